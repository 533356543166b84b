// Test support for code that needs /dev/kvm: fixtures that skip cleanly where it is missing.
// Tests using them belong to targets tagged "requires-kvm".
#ifndef VMMD_KVM_KVM_TEST_UTIL_H_
#define VMMD_KVM_KVM_TEST_UTIL_H_

#include <linux/kvm.h>

#include <memory>
#include <optional>

#include "absl/types/span.h"
#include "base/status_matchers.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"
#include "kvm/kvm_system.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace vmmd::testing {

class KvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KvmSystem> kvm = KvmSystem::Open();
    if (!kvm.ok()) GTEST_SKIP() << "no usable /dev/kvm: " << kvm.status();
    kvm_.emplace(std::move(*kvm));
  }

  KvmSystem& kvm() { return *kvm_; }

 private:
  std::optional<KvmSystem> kvm_;
};

// A VM with the machine the daemon builds (TSS, irqchip, PIT), 64 KiB of RAM and one vCPU,
// for a few instructions of real-mode code.
class RealModeVmTest : public KvmTest {
 protected:
  void SetUp() override {
    KvmTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_OK_AND_ASSIGN(Vm vm, kvm().CreateVm());
    vm_.emplace(std::move(vm));
    ASSERT_OK(vm_->SetTssAddress(GuestAddress(0xfffbd000)));
    ASSERT_OK(vm_->CreateIrqchip());
    ASSERT_OK(vm_->CreatePit2());
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    ASSERT_OK(vm_->MapGuestMemory(*memory_));
    ASSERT_OK_AND_ASSIGN(vcpu_, vm_->CreateVcpu(0));
  }

  // Loads 16-bit code at kCodeAddress and points the vCPU at it in real mode.
  void LoadRealModeCode(absl::Span<const uint8_t> code) {
    ASSERT_OK(memory_->WriteBytes(GuestAddress(kCodeAddress), code));
    ASSERT_OK_AND_ASSIGN(kvm_sregs sregs, vcpu_->GetSregs());
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ASSERT_OK(vcpu_->SetSregs(sregs));
    kvm_regs regs = {};
    regs.rip = kCodeAddress;
    regs.rflags = 2;
    ASSERT_OK(vcpu_->SetRegs(regs));
  }

  static constexpr uint64_t kMemorySize = 64 * 1024;
  static constexpr uint64_t kCodeAddress = 0x1000;
  std::optional<Vm> vm_;
  std::optional<GuestMemory> memory_;
  std::unique_ptr<Vcpu> vcpu_;
};

}  // namespace vmmd::testing

#endif  // VMMD_KVM_KVM_TEST_UTIL_H_
