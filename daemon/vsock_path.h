// Where a VM's vsock socket may be created: a client names uds_path, and vmmd binds a Unix
// socket there (and connects to "<uds_path>_<port>" for the guest), so the path is held to
// the daemon's --vsock_root as image paths are to the image roots.
#ifndef VMMD_DAEMON_VSOCK_PATH_H_
#define VMMD_DAEMON_VSOCK_PATH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmmd {

// The syntax alone, before anything is looked up: INVALID_ARGUMENT, naming `field`, for an
// empty, relative or NUL-holding path, one ending in '/', one with a "." or ".." component,
// or one longer than vsock::kMaxUdsPathLength.
absl::Status CheckVsockPathSyntax(absl::string_view path, absl::string_view field);

// `path` (syntax checked) must name an entry of a directory that is `root` (absolute,
// canonical) or beneath it, once symlinks are resolved: PERMISSION_DENIED otherwise (and
// FAILED_PRECONDITION when the daemon has no --vsock_root), NOT_FOUND when the directory
// does not exist. The entry itself is created by the bind, which refuses an existing one.
absl::Status CheckVsockPathUnderRoot(absl::string_view path, const std::string& root,
                                     absl::string_view field);

}  // namespace vmmd

#endif  // VMMD_DAEMON_VSOCK_PATH_H_
