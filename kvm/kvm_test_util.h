// Test support for code that needs /dev/kvm: a fixture that skips cleanly where it is missing.
// Tests using it belong to targets tagged "requires-kvm".
#ifndef VMMD_KVM_KVM_TEST_UTIL_H_
#define VMMD_KVM_KVM_TEST_UTIL_H_

#include <optional>

#include "gtest/gtest.h"
#include "kvm/kvm_system.h"

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

}  // namespace vmmd::testing

#endif  // VMMD_KVM_KVM_TEST_UTIL_H_
