// Internal to kvm/: one ioctl call site that turns failures into a Status naming the ioctl.
#ifndef VMMD_KVM_KVM_IOCTL_H_
#define VMMD_KVM_KVM_IOCTL_H_

#include <errno.h>
#include <sys/ioctl.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/errno_status.h"

namespace vmmd::kvm_internal {

// Issues ioctl(fd, request, arg), retrying on EINTR; returns its non-negative result.
template <typename Arg>
absl::StatusOr<int> Ioctl(int fd, unsigned long request, Arg arg, absl::string_view name) {
  int result;
  do {
    result = ::ioctl(fd, request, arg);
  } while (result < 0 && errno == EINTR);
  if (result < 0) return ::vmmd::ErrnoToStatus(errno, name);
  return result;
}

// An ioctl that fills a T: `request` with a zeroed T, which is returned.
template <typename T>
absl::StatusOr<T> GetStruct(int fd, unsigned long request, absl::string_view name) {
  T value = {};
  absl::StatusOr<int> result = Ioctl(fd, request, &value, name);
  if (!result.ok()) return result.status();
  return value;
}

}  // namespace vmmd::kvm_internal

#endif  // VMMD_KVM_KVM_IOCTL_H_
