#include "daemon/confined_open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/errno_status.h"
#include "base/status_macros.h"

namespace vmmd {
namespace {

// O_NONBLOCK: opening a FIFO someone left under an image root must not hang the daemon.
constexpr int kOpenFlags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

absl::StatusOr<UniqueFd> OpenBeneath(const std::string& root, const std::string& relative,
                                     bool writable, absl::string_view field,
                                     absl::string_view path) {
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return ::vmmd::ErrnoToStatus(errno, absl::StrCat("open(image root ", root, ")"));
  open_how how = {};
  how.flags = kOpenFlags | (writable ? O_RDWR : O_RDONLY);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(::syscall(SYS_openat2, root_fd.get(), relative.c_str(), &how, sizeof(how)));
  if (fd >= 0) return UniqueFd(fd);
  switch (errno) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(absl::StrCat(field, ": ", path, " does not exist"));
    case EXDEV:
    case ELOOP:
      return absl::PermissionDeniedError(
          absl::StrCat(field, ": ", path, " resolves outside the image root ", root));
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(absl::StrCat(field, ": ", path, " is not ",
                                                      writable ? "writable" : "readable"));
    case EISDIR:
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, " is not a regular file"));
    default:
      return ::vmmd::ErrnoToStatus(errno, absl::StrCat("openat2(", path, ")"));
  }
}

}  // namespace

absl::StatusOr<UniqueFd> OpenUnderImageRoot(absl::string_view path,
                                            absl::Span<const std::string> roots, bool writable,
                                            absl::string_view field) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, " contains a NUL byte"));
  }
  if (path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", path, " must be an absolute path"));
  }
  for (const std::string& root : roots) {
    absl::string_view relative = path;
    if (!absl::ConsumePrefix(&relative, root) || !absl::ConsumePrefix(&relative, "/") ||
        relative.empty()) {
      continue;
    }
    ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(root, std::string(relative), writable, field, path));
    struct stat info;
    if (::fstat(fd.get(), &info) != 0) return ::vmmd::ErrnoToStatus(errno, "fstat");
    if (!S_ISREG(info.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, " is not a regular file"));
    }
    return fd;
  }
  return absl::PermissionDeniedError(absl::StrCat(
      field, ": ", path, " is not under an image root (",
      roots.empty() ? "vmmd has no --image_root" : absl::StrJoin(roots, ", "), ")"));
}

}  // namespace vmmd
