// CaptureMachineState on a real Machine (tag: requires-kvm): every part of MachineState is
// filled from the machine as built, the devices are read on the device loop, and the work
// given runs there with them at rest.
#include "daemon/machine_snapshot.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_matchers.h"
#include "devices/virtio/entropy_device.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"

namespace vmmd {
namespace {

using ::vmmd::testing::StatusIs;

class MachineSnapshotTest : public testing::KvmTest {
 protected:
  std::unique_ptr<Machine> Build(uint32_t vcpus) {
    MachineConfig config;
    config.name = "snap";
    config.vcpu_count = vcpus;
    config.memory_mib = 16;
    config.virtio_devices.push_back(
        VirtioDeviceConfig{"rng", "virtio-rng", std::make_unique<virtio::EntropyDevice>()});
    // A short directory: "<uds_path>_<port>" must fit a Unix socket address (TEST_TMPDIR
    // is too deep).
    char dir[] = "/tmp/snap.XXXXXX";
    EXPECT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    uds_path_ = dir_ + "/vsock";
    absl::StatusOr<std::unique_ptr<virtio::VsockDevice>> vsock =
        virtio::VsockDevice::Create(42, uds_path_);
    EXPECT_OK(vsock.status());
    if (!vsock.ok()) return nullptr;
    config.virtio_devices.push_back(VirtioDeviceConfig{"vsock", "virtio-vsock", std::move(*vsock)});
    MachineEvents events;
    events.console_output = [](uint8_t) {};
    events.stop_guest = [](std::string) {};
    events.serial_registers_changed = [] {};
    absl::StatusOr<std::unique_ptr<Machine>> machine =
        Machine::Create(kvm(), std::move(config), std::move(events));
    EXPECT_OK(machine.status());
    if (!machine.ok()) return nullptr;
    // The CPUID a configured VM's vCPUs have (a snapshot is of one).
    absl::StatusOr<std::vector<kvm_cpuid_entry2>> cpuid = kvm().GetSupportedCpuid();
    EXPECT_OK(cpuid.status());
    for (auto& vcpu : (*machine)->vcpus) {
      if (cpuid.ok()) EXPECT_OK(vcpu->SetCpuid2(*cpuid));
    }
    return std::move(*machine);
  }

  void TearDown() override {
    if (!dir_.empty()) ::rmdir(dir_.c_str());  // the device unlinked its socket
  }

  std::string dir_;
  std::string uds_path_;
};

TEST_F(MachineSnapshotTest, EveryPartIsReadAndTheWorkRunsWithTheDevicesAtRest) {
  std::unique_ptr<Machine> machine = Build(2);
  ASSERT_NE(machine, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<uint32_t> msrs, kvm().GetMsrIndexList());
  bool on_device_loop = false;
  ASSERT_OK_AND_ASSIGN(snapshot::v1::MachineState state,
                       CaptureMachineState(*machine, msrs, [&] {
                         on_device_loop = machine->device_loop->OnLoopThread();
                         return absl::OkStatus();
                       }));
  EXPECT_TRUE(on_device_loop);
  ASSERT_EQ(state.vcpus_size(), 2);
  for (const auto& vcpu : state.vcpus()) {
    EXPECT_EQ(vcpu.regs().size(), sizeof(kvm_regs));
    EXPECT_GE(vcpu.xsave().size(), 4096u);
    EXPECT_GT(vcpu.msrs_size(), 10);
  }
  EXPECT_EQ(state.vm().ioapic().size(), sizeof(kvm_irqchip));
  EXPECT_EQ(state.serial().lcr(), 0x03u);  // a fresh UART: 8N1
  EXPECT_EQ(state.i8042().command_byte(), 0x45u);
  EXPECT_EQ(state.resources().mmio_windows_size(), 2);
  EXPECT_EQ(state.resources().irqs_size(), 2);
  ASSERT_EQ(state.virtio_devices_size(), 2);
  EXPECT_EQ(state.virtio_devices(0).id(), "rng");
  EXPECT_EQ(state.virtio_devices(0).kind(), "virtio-rng");
  EXPECT_EQ(state.virtio_devices(0).transport().queues_size(), 1);
  EXPECT_EQ(state.virtio_devices(0).device_case(), snapshot::v1::VirtioDeviceState::DEVICE_NOT_SET);
  EXPECT_EQ(state.virtio_devices(1).transport().queues_size(), 3);
  ASSERT_TRUE(state.virtio_devices(1).has_vsock());
  EXPECT_EQ(state.virtio_devices(1).vsock().guest_cid(), 42u);
  EXPECT_EQ(state.virtio_devices(1).vsock().uds_path(), uds_path_);
}

TEST_F(MachineSnapshotTest, TheWorksErrorIsReturned) {
  std::unique_ptr<Machine> machine = Build(1);
  ASSERT_NE(machine, nullptr);
  EXPECT_THAT(CaptureMachineState(*machine, {}, [] { return absl::DataLossError("disk full"); }),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::HasSubstr("disk full")));
}

TEST_F(MachineSnapshotTest, AStoppedDeviceLoopIsRefused) {
  std::unique_ptr<Machine> machine = Build(1);
  ASSERT_NE(machine, nullptr);
  machine->device_loop->Stop();
  bool ran = false;
  EXPECT_THAT(CaptureMachineState(*machine, {}, [&] {
                ran = true;
                return absl::OkStatus();
              }),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("stopped")));
  EXPECT_FALSE(ran);
}

// A state put back into a second machine built alike reads back as it was put: devices,
// transports and KVM's structures, field by field.
TEST_F(MachineSnapshotTest, RestoredStateReadsBackAsPutBack) {
  std::unique_ptr<Machine> source = Build(2);
  ASSERT_NE(source, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<uint32_t> msrs, kvm().GetMsrIndexList());
  ASSERT_OK_AND_ASSIGN(snapshot::v1::MachineState state,
                       CaptureMachineState(*source, msrs, [] { return absl::OkStatus(); }));
  // Distinctive values where a fresh machine has defaults, so that a part left out of the
  // restore shows.
  state.mutable_serial()->set_scr(0x5a);
  state.mutable_serial()->set_lcr(0x1b);
  state.mutable_serial()->set_divisor(3);
  state.mutable_i8042()->set_command_byte(0x47);
  snapshot::v1::MmioTransportState* transport = state.mutable_virtio_devices(1)->mutable_transport();
  transport->set_device_features_sel(1);
  transport->set_queue_sel(2);
  transport->set_config_generation(7);
  transport->set_status(0x3);  // ACKNOWLEDGE | DRIVER
  snapshot::v1::KvmVcpuState* vcpu = state.mutable_vcpus(1);
  kvm_regs regs;
  ASSERT_EQ(vcpu->regs().size(), sizeof(regs));
  std::memcpy(&regs, vcpu->regs().data(), sizeof(regs));
  regs.rax = 0x1234567890abcdefull;
  regs.rip = 0x100000;
  vcpu->set_regs(std::string(reinterpret_cast<const char*>(&regs), sizeof(regs)));
  source.reset();
  ::rmdir(dir_.c_str());  // the device unlinked its socket

  std::unique_ptr<Machine> target = Build(2);
  ASSERT_NE(target, nullptr);
  // The vsock device is another's now: its socket path is this build's.
  state.mutable_virtio_devices(1)->mutable_vsock()->set_uds_path(uds_path_);
  ASSERT_OK(RestoreMachineState(*target, state));
  ASSERT_OK_AND_ASSIGN(snapshot::v1::MachineState again,
                       CaptureMachineState(*target, msrs, [] { return absl::OkStatus(); }));
  EXPECT_EQ(again.serial().SerializeAsString(), state.serial().SerializeAsString());
  EXPECT_EQ(again.i8042().SerializeAsString(), state.i8042().SerializeAsString());
  EXPECT_EQ(again.resources().SerializeAsString(), state.resources().SerializeAsString());
  ASSERT_EQ(again.virtio_devices_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(again.virtio_devices(i).SerializeAsString(), state.virtio_devices(i).SerializeAsString())
        << "virtio_devices[" << i << "]";
  }
  ASSERT_EQ(again.vcpus_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(again.vcpus(i).regs(), state.vcpus(i).regs()) << "vcpus[" << i << "].regs";
    EXPECT_EQ(again.vcpus(i).sregs(), state.vcpus(i).sregs()) << "vcpus[" << i << "].sregs";
    EXPECT_EQ(again.vcpus(i).lapic(), state.vcpus(i).lapic()) << "vcpus[" << i << "].lapic";
    EXPECT_EQ(again.vcpus(i).xsave(), state.vcpus(i).xsave()) << "vcpus[" << i << "].xsave";
    EXPECT_EQ(again.vcpus(i).cpuid(), state.vcpus(i).cpuid()) << "vcpus[" << i << "].cpuid";
    EXPECT_EQ(again.vcpus(i).mp_state(), state.vcpus(i).mp_state()) << "vcpus[" << i << "].mp_state";
  }
  EXPECT_EQ(again.vm().ioapic(), state.vm().ioapic());
  EXPECT_EQ(again.vm().pic_master(), state.vm().pic_master());
  EXPECT_EQ(again.vm().pic_slave(), state.vm().pic_slave());
}

TEST_F(MachineSnapshotTest, AStateThatDoesNotFitTheMachineIsRefused) {
  std::unique_ptr<Machine> machine = Build(2);
  ASSERT_NE(machine, nullptr);
  ASSERT_OK_AND_ASSIGN(snapshot::v1::MachineState state,
                       CaptureMachineState(*machine, {}, [] { return absl::OkStatus(); }));
  snapshot::v1::MachineState one_vcpu = state;
  one_vcpu.mutable_vcpus()->RemoveLast();
  EXPECT_THAT(RestoreMachineState(*machine, one_vcpu),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("vcpus")));
  snapshot::v1::MachineState swapped = state;
  swapped.mutable_virtio_devices()->SwapElements(0, 1);
  EXPECT_THAT(RestoreMachineState(*machine, swapped),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("virtio_devices[0]")));
  snapshot::v1::MachineState moved = state;
  moved.mutable_resources()->mutable_mmio_windows(0)->set_base(0x1000);
  EXPECT_THAT(RestoreMachineState(*machine, moved),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("resources")));
}

}  // namespace
}  // namespace vmmd
