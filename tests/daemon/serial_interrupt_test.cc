// COM1's THR-empty interrupt through the real vmmd (tag: requires-kvm), driven the way
// Linux's 8250 driver drives it: serial_irq_guest sets IER.ETBEI and sends each byte of its
// message from the interrupt handler, after reading IIR, never polling LSR. The message only
// gets out if every THR write reaches the UART at once and raises the next IRQ 4 edge through
// the irqfd and the in-kernel IOAPIC; if the interrupts stop, the guest halts and the console
// stream runs into its deadline.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "tests/guest/serial_irq_protocol.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::vmmd::testing::BootAndFollowConsole;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kSerialIrqGuest[] = "tests/guest/serial_irq_guest.elf";

class SerialInterruptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KvmSystem::Open().ok()) GTEST_SKIP() << "no usable /dev/kvm";
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(kDaemon, {kSerialIrqGuest});
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

TEST_F(SerialInterruptTest, TransmitsOneByteForEachThrEmptyInterrupt) {
  ExpectInterruptDrivenTransmit("one-vcpu", 1);
}

// The AP waits for a SIPI that never comes; the BSP runs the guest and takes IRQ 4.
TEST_F(SerialInterruptTest, TransmitsWithAnApParked) {
  ExpectInterruptDrivenTransmit("two-vcpus", 2);
}

}  // namespace
}  // namespace vmmd
