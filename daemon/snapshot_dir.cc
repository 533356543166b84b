#include "daemon/snapshot_dir.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/errno_status.h"

namespace vmmd {
namespace {

int OpenBeneath(int root, const std::string& relative, uint64_t flags) {
  open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof(how)));
}

std::string PartialName(absl::string_view name) { return absl::StrCat(name, ".partial"); }

}  // namespace

absl::StatusOr<SnapshotDir> SnapshotDir::Open(absl::string_view path, const std::string& root,
                                              bool create, absl::string_view field) {
  if (root.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": vmmd has no --snapshot_root, so it takes no snapshots"));
  }
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, " contains a NUL byte"));
  }
  if (path.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, " must be an absolute path"));
  }
  absl::string_view relative = path;
  if (!absl::ConsumePrefix(&relative, root) || !absl::ConsumePrefix(&relative, "/") ||
      relative.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": ", path, " is not under the snapshot root ", root));
  }
  absl::ConsumeSuffix(&relative, "/");
  for (absl::string_view part : {"//", "/./", "/../"}) {
    if (absl::StrContains(absl::StrCat("/", relative, "/"), part)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", path, " is not canonical (it holds \"", part, "\")"));
    }
  }
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return ErrnoToStatus(errno, absl::StrCat("open(snapshot root ", root, ")"));
  const std::string inside(relative);
  int fd = OpenBeneath(root_fd.get(), inside, O_RDONLY | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT && create) {
    // The parent is resolved beneath the root as well: mkdirat follows no symlink in the
    // last component, and the open below checks the whole path again.
    const size_t slash = inside.rfind('/');
    UniqueFd parent(slash == std::string::npos
                        ? ::dup(root_fd.get())
                        : OpenBeneath(root_fd.get(), inside.substr(0, slash), O_PATH | O_DIRECTORY));
    if (parent && ::mkdirat(parent.get(), inside.substr(slash + 1).c_str(), 0700) != 0 &&
        errno != EEXIST) {
      return ErrnoToStatus(errno, absl::StrCat(field, ": mkdir ", path));
    }
    fd = OpenBeneath(root_fd.get(), inside, O_RDONLY | O_DIRECTORY);
  }
  if (fd >= 0) return SnapshotDir(std::string(path), UniqueFd(fd));
  switch (errno) {
    case ENOENT:
      return absl::NotFoundError(absl::StrCat(field, ": ", path, " does not exist"));
    case ENOTDIR:
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, " is not a directory"));
    case EXDEV:
    case ELOOP:
      return absl::PermissionDeniedError(
          absl::StrCat(field, ": ", path, " resolves outside the snapshot root ", root));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(field, ": ", path, " is not accessible"));
    default:
      return ErrnoToStatus(errno, absl::StrCat("openat2(", path, ")"));
  }
}

absl::Status SnapshotDir::Lock(bool exclusive) const {
  if (::flock(dir_.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return absl::OkStatus();
  if (errno == EWOULDBLOCK) {
    return absl::AbortedError(absl::StrCat(
        path_, exclusive ? " is in use by another snapshot or a restore; retry"
                         : " is being written by a snapshot; retry"));
  }
  return ErrnoToStatus(errno, absl::StrCat("flock ", path_));
}

absl::StatusOr<UniqueFd> SnapshotDir::CreateFile(absl::string_view name) const {
  const std::string partial = PartialName(name);
  if (::unlinkat(dir_.get(), partial.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("unlink ", path_, "/", partial));
  }
  UniqueFd fd(::openat(dir_.get(), partial.c_str(),
                       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoToStatus(errno, absl::StrCat("create ", path_, "/", partial));
  return fd;
}

absl::Status SnapshotDir::Commit(absl::string_view name, const UniqueFd& file) const {
  if (::fsync(file.get()) != 0) return ErrnoToStatus(errno, absl::StrCat("fsync ", path_, "/", name));
  const std::string partial = PartialName(name);
  const std::string final_name(name);
  if (::renameat(dir_.get(), partial.c_str(), dir_.get(), final_name.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", path_, "/", partial));
  }
  return absl::OkStatus();
}

void SnapshotDir::Discard(absl::string_view name) const {
  ::unlinkat(dir_.get(), PartialName(name).c_str(), 0);
}

absl::StatusOr<UniqueFd> SnapshotDir::OpenFile(absl::string_view name) const {
  const std::string file(name);
  UniqueFd fd(::openat(dir_.get(), file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) return fd;
  if (errno == ENOENT) {
    return absl::NotFoundError(absl::StrCat(path_, "/", name, " does not exist: not a snapshot"));
  }
  return ErrnoToStatus(errno, absl::StrCat("open ", path_, "/", name));
}

}  // namespace vmmd
