#include "daemon/drive_file.h"

#include <errno.h>
#include <sys/file.h>

#include "absl/strings/str_cat.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "daemon/confined_open.h"

namespace vmmd {

absl::StatusOr<UniqueFd> OpenDriveImage(absl::string_view path,
                                        absl::Span<const std::string> roots, bool read_only,
                                        absl::string_view field) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenUnderImageRoot(path, roots, /*writable=*/!read_only, field));
  // Non-blocking: a conflicting attachment is an answer now, not a wait.
  while (::flock(fd.get(), (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          field, ": ", path,
          read_only ? " is attached read-write elsewhere"
                    : " is attached elsewhere (a drive attached read-write must be its "
                      "image's only user)"));
    }
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("flock(", path, ")"));
  }
  return fd;
}

}  // namespace vmmd
