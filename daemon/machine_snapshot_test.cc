// CaptureMachineState on a real Machine (tag: requires-kvm): every part of MachineState is
// filled from the machine as built, the devices are read on the device loop, and the work
// given runs there with them at rest.
#include "daemon/machine_snapshot.h"

#include <unistd.h>

#include <cstdlib>
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
    return machine.ok() ? std::move(*machine) : nullptr;
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

}  // namespace
}  // namespace vmmd
