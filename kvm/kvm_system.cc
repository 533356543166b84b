#include "kvm/kvm_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "kvm/kvm_flex_array.h"
#include "kvm/kvm_ioctl.h"

namespace vmmd {

using kvm_internal::Ioctl;

absl::StatusOr<KvmSystem> KvmSystem::Open(absl::string_view path) {
  std::string path_string(path);
  UniqueFd fd(::open(path_string.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    absl::Status error = ::vmmd::ErrnoToStatus(errno, absl::StrCat("open(", path, ")"));
    return absl::UnavailableError(absl::StrCat("KVM is not available: ", error.message()));
  }
  ASSIGN_OR_RETURN(int version, Ioctl(fd.get(), KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION"));
  if (version != kApiVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s speaks KVM API %d; vmmd needs %d", path, version, kApiVersion));
  }
  ASSIGN_OR_RETURN(int mmap_size,
                   Ioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE"));
  if (mmap_size < static_cast<int>(sizeof(kvm_run))) {
    return absl::FailedPreconditionError(
        absl::StrFormat("KVM_GET_VCPU_MMAP_SIZE returned %d, smaller than kvm_run", mmap_size));
  }
  return KvmSystem(std::move(fd), mmap_size);
}

absl::StatusOr<int> KvmSystem::CheckExtension(int capability) const {
  return Ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability,
               absl::StrCat("KVM_CHECK_EXTENSION(", capability, ")"));
}

absl::StatusOr<std::vector<kvm_cpuid_entry2>> KvmSystem::GetSupportedCpuid() const {
  // The kernel says E2BIG until the buffer is big enough; start at a size that fits today's
  // CPUs and grow to a bound no real CPU comes near.
  for (uint32_t capacity = 128; capacity <= 4096; capacity *= 2) {
    kvm_internal::KvmFlexArray<kvm_cpuid_entry2> cpuid(capacity);
    if (::ioctl(fd_.get(), kvm_internal::kKvmGetSupportedCpuid, cpuid.ioctl_arg()) == 0) {
      return cpuid.Entries();
    }
    if (errno != E2BIG) return ::vmmd::ErrnoToStatus(errno, "KVM_GET_SUPPORTED_CPUID");
  }
  return absl::ResourceExhaustedError("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

absl::StatusOr<std::vector<uint32_t>> KvmSystem::GetMsrIndexList() const {
  // As GetSupportedCpuid: E2BIG until the buffer is big enough (KVM then says how big).
  for (uint32_t capacity = 128; capacity <= 4096; capacity *= 2) {
    std::vector<uint32_t> list(1 + capacity);
    list[0] = capacity;
    if (::ioctl(fd_.get(), kvm_internal::kKvmGetMsrIndexList, list.data()) == 0) {
      return std::vector<uint32_t>(list.begin() + 1, list.begin() + 1 + list[0]);
    }
    if (errno != E2BIG) return ::vmmd::ErrnoToStatus(errno, "KVM_GET_MSR_INDEX_LIST");
  }
  return absl::ResourceExhaustedError("KVM_GET_MSR_INDEX_LIST: more than 4096 MSRs");
}

absl::StatusOr<Vm> KvmSystem::CreateVm() const {
  ASSIGN_OR_RETURN(int vm_fd, Ioctl(fd_.get(), KVM_CREATE_VM, 0, "KVM_CREATE_VM"));
  return Vm(UniqueFd(vm_fd), vcpu_mmap_size_);
}

}  // namespace vmmd
