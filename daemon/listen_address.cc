#include "daemon/listen_address.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace vmmd {
namespace {

absl::StatusOr<gid_t> LookUpGroup(const std::string& group) {
  struct group* entry = ::getgrnam(group.c_str());
  if (entry == nullptr) return absl::InvalidArgumentError(absl::StrCat("--socket_group: no group ", group));
  return entry->gr_gid;
}

// Creates `directory` and missing parents, each 0750.
absl::Status MakeDirectories(const std::string& directory) {
  struct stat info;
  if (::stat(directory.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode)) return absl::FailedPreconditionError(absl::StrCat(directory, " is not a directory"));
    return absl::OkStatus();
  }
  const size_t slash = directory.rfind('/');
  if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MakeDirectories(directory.substr(0, slash)));
  if (::mkdir(directory.c_str(), 0750) != 0 && errno != EEXIST) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("mkdir(", directory, ")"));
  }
  // mkdir's mode is filtered by the umask; say exactly what we mean.
  if (::chmod(directory.c_str(), 0750) != 0) return ::vmmd::ErrnoToStatus(errno, "chmod");
  return absl::OkStatus();
}

bool SomeoneListens(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address) {
  ListenAddress result;
  absl::string_view rest = address;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    absl::ConsumePrefix(&rest, "//");
    if (rest.empty() || rest.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", address, ": a Unix socket needs an absolute path"));
    }
    if (rest.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", address, ": socket path too long"));
    }
    result.unix_path = std::string(rest);
    result.grpc_target = absl::StrCat("unix:", rest);
    return result;
  }
  if (absl::ConsumePrefix(&rest, "tcp:")) {
    const bool loopback = absl::StartsWith(rest, "127.") || absl::StartsWith(rest, "localhost:") ||
                          absl::StartsWith(rest, "[::1]:");
    if (!loopback) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen ", address, ": TCP is served on loopback only (127.0.0.1, localhost, [::1])"));
    }
    result.is_unix = false;
    result.grpc_target = std::string(rest);
    return result;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--listen ", address, ": use unix:/path/to.sock or tcp:127.0.0.1:PORT"));
}

absl::Status PrepareUnixSocket(const ListenAddress& address, const std::string& group) {
  if (!address.is_unix) return absl::OkStatus();
  const std::string directory = address.unix_path.substr(0, address.unix_path.rfind('/'));
  if (!directory.empty()) {
    RETURN_IF_ERROR(MakeDirectories(directory));
    if (!group.empty()) {
      ASSIGN_OR_RETURN(gid_t gid, LookUpGroup(group));
      if (::chown(directory.c_str(), -1, gid) != 0) return ::vmmd::ErrnoToStatus(errno, "chown(socket directory)");
    }
  }
  struct stat info;
  if (::lstat(address.unix_path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(address.unix_path, " exists and is not a socket"));
    }
    if (SomeoneListens(address.unix_path)) {
      return absl::FailedPreconditionError(absl::StrCat("another daemon is serving on ", address.unix_path));
    }
    ::unlink(address.unix_path.c_str());
  }
  return absl::OkStatus();
}

absl::Status RestrictUnixSocket(const ListenAddress& address, const std::string& group) {
  if (!address.is_unix) return absl::OkStatus();
  if (::chmod(address.unix_path.c_str(), 0660) != 0) return ::vmmd::ErrnoToStatus(errno, "chmod(socket)");
  if (!group.empty()) {
    ASSIGN_OR_RETURN(gid_t gid, LookUpGroup(group));
    if (::chown(address.unix_path.c_str(), -1, gid) != 0) return ::vmmd::ErrnoToStatus(errno, "chown(socket)");
  }
  return absl::OkStatus();
}

}  // namespace vmmd
