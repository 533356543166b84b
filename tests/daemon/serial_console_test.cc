// COM1 through the real vmmd (tag: requires-kvm), in the two modes vmmd treats differently.
//
// Interrupt-driven transmit, the way Linux's 8250 driver does it: serial_irq_guest sets
// IER.ETBEI and sends each byte of its message from the interrupt handler, after reading IIR,
// never polling LSR. The message only gets out if every THR write reaches the UART at once
// and raises the next IRQ 4 edge through the irqfd and the in-kernel IOAPIC; so vmmd must not
// let KVM queue THR writes in this mode. If the interrupts stop, the guest halts and the
// console stream runs into its deadline.
//
// Polled transmit, where vmmd does let KVM queue THR writes (daemon/coalesced_port_writes.h):
// idle_guest prints a line and halts for good, so its last byte waits in KVM's ring with no
// exit coming to replay it; the worker's periodic flush must bring it out.
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "tests/guest/serial_irq_protocol.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::vmmd::testing::BootAndFollowConsole;
using ::vmmd::testing::BootGuest;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kSerialIrqGuest[] = "tests/guest/serial_irq_guest.elf";
constexpr char kIdleGuest[] = "tests/guest/idle_guest.elf";

// The count in vmmd's "vm <id>: N COM1 writes came through KVM's coalesced ring", or -1.
int64_t CoalescedWritesLogged(const std::string& log, const std::string& vm_id) {
  const std::string prefix = absl::StrCat("vm ", vm_id, ": ");
  const std::string suffix = " COM1 writes came through KVM's coalesced ring";
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t start = line.find(prefix);
    const size_t end = line.find(suffix);
    if (start == absl::string_view::npos || end == absl::string_view::npos) continue;
    int64_t count = -1;
    const size_t digits = start + prefix.size();
    if (digits <= end && absl::SimpleAtoi(line.substr(digits, end - digits), &count)) return count;
  }
  return -1;
}

class SerialConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(kDaemon, {kSerialIrqGuest, kIdleGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  // Boots the guest with `vcpus` and checks that it stopped with the message on its console
  // and its success code: every byte sent from an interrupt, and exactly the interrupts
  // SERIAL_IRQ_EXPECTED_INTERRUPTS says.
  void ExpectInterruptDrivenTransmit(const std::string& vm_id, uint32_t vcpus) {
    const std::string console =
        BootAndFollowConsole(*stub_, *daemon_, vm_id, "serial_irq_guest.elf", vcpus, 32, "");
    EXPECT_EQ(console, SERIAL_IRQ_MESSAGE);

    vmm::v1::GetVmRequest get;
    get.set_vm_id(vm_id);
    vmm::v1::Vm vm;
    ASSERT_TRUE(stub_->GetVm(Context().get(), get, &vm).ok());
    EXPECT_EQ(vmm::v1::VmState_Name(vm.state()), "VM_STATE_STOPPED")
        << "a guest that never stops is still waiting for a THR-empty interrupt";
    // Otherwise SERIAL_IRQ_EXIT_MISCOUNT (0x5f | interrupts << 8 | strays << 16) or
    // SERIAL_IRQ_EXIT_UNEXPECTED_VECTOR (0x5d), in decimal.
    EXPECT_EQ(vm.exit_reason(), absl::StrCat("guest exit code ", SERIAL_IRQ_EXIT_OK))
        << "expected " << SERIAL_IRQ_EXPECTED_INTERRUPTS << " interrupts, no strays";
    EXPECT_EQ(vm.console_bytes(), SERIAL_IRQ_MESSAGE_BYTES);
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(SerialConsoleTest, TransmitsOneByteForEachThrEmptyInterrupt) {
  ExpectInterruptDrivenTransmit("one-vcpu", 1);
}

// The AP waits for a SIPI that never comes; the BSP runs the guest and takes IRQ 4.
TEST_F(SerialConsoleTest, TransmitsWithAnApParked) {
  ExpectInterruptDrivenTransmit("two-vcpus", 2);
}

TEST_F(SerialConsoleTest, TheLastByteOfAGuestThatHaltsArrives) {
  const std::string kLine = "idle guest ready\r\n";  // tests/guest/idle_guest.c
  const grpc::Status booted = BootGuest(*stub_, *daemon_, "idle", "idle_guest.elf");
  ASSERT_TRUE(booted.ok()) << booted.error_message();
  vmm::v1::Vm vm;

  // Bounded wait: the guest never exits again after its last `out`.
  vmm::v1::GetVmRequest get;
  get.set_vm_id("idle");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (vm.console_bytes() < kLine.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(stub_->GetVm(Context().get(), get, &vm).ok());
  }
  EXPECT_EQ(vm.console_bytes(), kLine.size());
  EXPECT_EQ(vmm::v1::VmState_Name(vm.state()), "VM_STATE_RUNNING") << "halted, not stopped";

  vmm::v1::StreamConsoleRequest replay;
  replay.set_vm_id("idle");
  auto context = Context();
  auto reader = stub_->StreamConsole(context.get(), replay);
  std::string console;
  vmm::v1::ConsoleChunk chunk;
  while (reader->Read(&chunk)) console += chunk.data();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(console, kLine);

  // And it did come through KVM's ring: vmmd says how many writes did when the VM stops.
  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id("idle");
  vmm::v1::DeleteVmResponse removed;
  ASSERT_TRUE(stub_->DeleteVm(Context().get(), remove, &removed).ok());
  EXPECT_GT(CoalescedWritesLogged(daemon_->Log(), "idle"), 0) << daemon_->Log();
}

}  // namespace
}  // namespace vmmd
