// KvmSystem: the /dev/kvm handle. Checks the API version, answers capability queries,
// reports the CPUID the host can virtualise, and creates VMs.
#ifndef VMMD_KVM_KVM_SYSTEM_H_
#define VMMD_KVM_KVM_SYSTEM_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"
#include "kvm/vm.h"

namespace vmmd {

class KvmSystem {
 public:
  // The only KVM API version there has ever been a stable promise for (KVM_GET_API_VERSION).
  static constexpr int kApiVersion = 12;

  // Opens `path` (O_RDWR | O_CLOEXEC) and checks KVM_GET_API_VERSION == 12.
  // UNAVAILABLE when the device cannot be opened, FAILED_PRECONDITION on a wrong version.
  static absl::StatusOr<KvmSystem> Open(absl::string_view path = "/dev/kvm");

  // KVM_CHECK_EXTENSION: 0 when unsupported, otherwise the capability's value.
  absl::StatusOr<int> CheckExtension(int capability) const;

  // KVM_GET_SUPPORTED_CPUID: every leaf the host can offer a guest.
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> GetSupportedCpuid() const;

  // KVM_GET_MSR_INDEX_LIST: the MSRs KVM can save and restore for a vCPU (a snapshot's).
  absl::StatusOr<std::vector<uint32_t>> GetMsrIndexList() const;

  // KVM_GET_VCPU_MMAP_SIZE: bytes of the shared kvm_run area of each vCPU.
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }

  // KVM_CREATE_VM (default machine type).
  absl::StatusOr<Vm> CreateVm() const;

 private:
  KvmSystem(UniqueFd fd, int vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

  UniqueFd fd_;
  int vcpu_mmap_size_;
};

}  // namespace vmmd

#endif  // VMMD_KVM_KVM_SYSTEM_H_
