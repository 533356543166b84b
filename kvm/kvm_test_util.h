// Test support for code that needs /dev/kvm. Tests using it are declared with kvm_cc_test
// (tools/kvm_vm/kvm_test.bzl), which runs them through tools/kvm-vm: where the host has no
// KVM they get the test VM's. So a KVM that cannot be opened fails a test; it never skips.
#ifndef VMMD_KVM_KVM_TEST_UTIL_H_
#define VMMD_KVM_KVM_TEST_UTIL_H_

#include <linux/kvm.h>

#include <cstdlib>
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

// Whether this runs in tools/kvm-vm's test VM (QEMU TCG), where guest code and VM exits cost
// far more than on a host's KVM: stress tests run smaller sizes there, and say so.
inline bool InTestVm() { return std::getenv("VMMD_KVM_VM_GUEST") != nullptr; }

// ASSERT_TRUE(KvmUsable()) first in a test that needs /dev/kvm.
inline ::testing::AssertionResult KvmUsable() {
  absl::StatusOr<KvmSystem> kvm = KvmSystem::Open();
  if (kvm.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no usable /dev/kvm (" << kvm.status()
                                       << "): run the test through tools/kvm-vm, as kvm_cc_test does";
}

class KvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(KvmUsable());
    ASSERT_OK_AND_ASSIGN(KvmSystem kvm, KvmSystem::Open());
    kvm_.emplace(std::move(kvm));
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
    if (HasFatalFailure()) return;
    ASSERT_OK_AND_ASSIGN(Vm vm, kvm().CreateVm());
    vm_.emplace(std::move(vm));
    ASSERT_OK(vm_->SetTssAddress(GuestAddress(0xfffbd000)));
    ASSERT_OK(vm_->CreateIrqchip());
    ASSERT_OK(vm_->CreatePit2());
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_ = std::make_shared<GuestMemory>(std::move(memory));
    ASSERT_OK(vm_->MapGuestMemory(memory_));
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
  std::shared_ptr<GuestMemory> memory_;
  std::unique_ptr<Vcpu> vcpu_;
};

}  // namespace vmmd::testing

#endif  // VMMD_KVM_KVM_TEST_UTIL_H_
