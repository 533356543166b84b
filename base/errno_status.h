// The one place that turns an errno value into an absl::Status naming the failed call.
#ifndef VMMD_BASE_ERRNO_STATUS_H_
#define VMMD_BASE_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmmd {

// Returns a status whose code follows the errno (ENOENT -> NOT_FOUND, EINVAL -> INVALID_ARGUMENT,
// ENOMEM -> RESOURCE_EXHAUSTED, ...) and whose message reads "<call>: <strerror> (errno N)".
// Call it qualified (::vmmd::ErrnoToStatus): Abseil has a function of the same name that
// argument-dependent lookup also finds. Call it right after the failing syscall, before anything can overwrite errno.
absl::Status ErrnoToStatus(int error_number, absl::string_view call);

}  // namespace vmmd

#endif  // VMMD_BASE_ERRNO_STATUS_H_
