// Test support for booting the tiny guests straight on KVM, without the daemon: the machine
// vmmd builds (TSS, identity map, irqchip, PIT, RAM, vCPUs) and a vCPU run loop with a hang
// guard. Tests using it are tagged requires-kvm.
#ifndef VMMD_TESTS_GUEST_GUEST_VM_H_
#define VMMD_TESTS_GUEST_GUEST_VM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvm/guest_memory.h"
#include "kvm/kvm_test_util.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace vmmd::testing {

// The bytes of a runfiles file; empty if it cannot be read.
std::vector<uint8_t> ReadFile(const std::string& path);

class GuestVmTest : public KvmTest {
 protected:
  // Builds the machine; call from SetUp after KvmTest::SetUp.
  void CreateMachine(int vcpu_count, uint64_t memory_bytes);

  std::vector<Vcpu*> vcpu_pointers() const;

  // What a handler tells the run loop after an exit.
  enum class Next { kContinue, kDone };
  // Returns the next step, or an error string to end the run as a failure.
  using ExitHandler = std::function<absl::StatusOr<Next>(VcpuExit&)>;

  // Runs `vcpu` until `handler` says kDone. Returns "" on success, else why it failed
  // (handler error, KVM error, too many exits, or the hang guard firing).
  std::string RunUntilDone(Vcpu& vcpu, const ExitHandler& handler);

  std::optional<Vm> vm_;
  std::shared_ptr<GuestMemory> memory_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
};

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_GUEST_GUEST_VM_H_
