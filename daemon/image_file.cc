#include "daemon/image_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/errno_status.h"
#include "base/status_macros.h"

namespace vmmd {
namespace {

// O_NONBLOCK: opening a FIFO someone left under an image root must not hang the daemon.
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

absl::StatusOr<UniqueFd> OpenBeneath(const std::string& root, const std::string& relative,
                                     absl::string_view field, absl::string_view path) {
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return ::vmmd::ErrnoToStatus(errno, absl::StrCat("open(image root ", root, ")"));
  open_how how = {};
  how.flags = kOpenFlags;
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
      return absl::PermissionDeniedError(absl::StrCat(field, ": ", path, " is not readable"));
    default:
      return ::vmmd::ErrnoToStatus(errno, absl::StrCat("openat2(", path, ")"));
  }
}

}  // namespace

absl::StatusOr<ImageFile> ImageFile::Open(absl::string_view path,
                                          absl::Span<const std::string> roots, uint64_t max_size,
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
    ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(root, std::string(relative), field, path));
    struct stat info;
    if (::fstat(fd.get(), &info) != 0) return ::vmmd::ErrnoToStatus(errno, "fstat");
    if (!S_ISREG(info.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, " is not a regular file"));
    }
    if (static_cast<uint64_t>(info.st_size) > max_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %s is %d bytes; the limit is %d bytes", field, path, info.st_size, max_size));
    }
    return ImageFile(std::move(fd), info.st_size);
  }
  return absl::PermissionDeniedError(absl::StrCat(
      field, ": ", path, " is not under an image root (",
      roots.empty() ? "vmmd has no --image_root" : absl::StrJoin(roots, ", "), ")"));
}

absl::Status ImageFile::ReadAt(uint64_t offset, absl::Span<uint8_t> destination) const {
  RETURN_IF_ERROR(CheckRange(offset, destination.size()));
  size_t done = 0;
  while (done < destination.size()) {
    ssize_t n = ::pread(fd_.get(), destination.data() + done, destination.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ::vmmd::ErrnoToStatus(errno, "pread(image)");
    if (n == 0) return absl::InvalidArgumentError("image shrank while being read");
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> ImageFile::ReadAll() const {
  std::vector<uint8_t> bytes(size_);
  RETURN_IF_ERROR(ReadAt(0, absl::MakeSpan(bytes)));
  return bytes;
}

}  // namespace vmmd
