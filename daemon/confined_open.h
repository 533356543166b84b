// OpenUnderImageRoot: the one way vmmd opens a file a client names by path (kernels,
// initrds, drive images): only from under the daemon's image roots, resolved beneath the
// root so that neither ".." nor a symlink leads out of it.
#ifndef VMMD_DAEMON_CONFINED_OPEN_H_
#define VMMD_DAEMON_CONFINED_OPEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"

namespace vmmd {

// Opens the regular file `path` (absolute) read-only, or read-write when `writable`, if it
// lies under one of `roots` (absolute, canonical directories), resolving it beneath that
// root (openat2 RESOLVE_BENEATH). `field` names the request field in errors.
//   INVALID_ARGUMENT: empty, relative or NUL-containing path; not a regular file;
//   PERMISSION_DENIED: not under an image root, escaping it, or not readable (writable);
//   NOT_FOUND: no such file.
absl::StatusOr<UniqueFd> OpenUnderImageRoot(absl::string_view path,
                                            absl::Span<const std::string> roots, bool writable,
                                            absl::string_view field);

}  // namespace vmmd

#endif  // VMMD_DAEMON_CONFINED_OPEN_H_
