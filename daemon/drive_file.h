// OpenDriveImage: a drive's raw image, opened the way kernels are (under an image root,
// confined) and locked for the VM's lifetime, so that one image is never written by two VMs.
#ifndef VMMD_DAEMON_DRIVE_FILE_H_
#define VMMD_DAEMON_DRIVE_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"

namespace vmmd {

// Opens `path` under one of `roots` (OpenUnderImageRoot's rules and errors), read-only or
// read-write, and takes a lock on the open file that lasts as long as the fd: exclusive for
// read-write, shared for read-only (flock(2), so it holds against other VMs of this daemon and
// other processes alike). FAILED_PRECONDITION, naming `field`, when the image is attached
// elsewhere in a way that conflicts: read-write anywhere, or read-only while read-write.
absl::StatusOr<UniqueFd> OpenDriveImage(absl::string_view path,
                                        absl::Span<const std::string> roots, bool read_only,
                                        absl::string_view field);

}  // namespace vmmd

#endif  // VMMD_DAEMON_DRIVE_FILE_H_
