#include "daemon/vsock_path.h"

#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "devices/virtio/vsock/unix_socket.h"

namespace vmmd {

absl::Status CheckVsockPathSyntax(absl::string_view path, absl::string_view field) {
  const auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (path.empty()) return refuse("is empty");
  if (path.size() > virtio::vsock::kMaxUdsPathLength) {
    return refuse(absl::StrFormat("is %d bytes; the limit is %d (\"<uds_path>_<port>\" must fit a "
                                  "Unix socket address)",
                                  path.size(), virtio::vsock::kMaxUdsPathLength));
  }
  if (path.find('\0') != absl::string_view::npos) return refuse("holds a NUL byte");
  if (path.front() != '/') return refuse("must be an absolute path");
  if (path.back() == '/') return refuse("must name a socket, not a directory");
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part == "." || part == "..") return refuse("must not hold \".\" or \"..\"");
  }
  return absl::OkStatus();
}

absl::Status CheckVsockPathUnderRoot(absl::string_view path, const std::string& root,
                                     absl::string_view field) {
  if (root.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": this vmmd was started without --vsock_root, so it makes no vsock "
                            "sockets"));
  }
  const std::string directory(path.substr(0, path.rfind('/') + 1));
  std::unique_ptr<char, decltype(&::free)> resolved(::realpath(directory.c_str(), nullptr), &::free);
  if (resolved == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(field, ": no directory ", directory));
    }
    return absl::PermissionDeniedError(absl::StrCat(field, ": cannot resolve ", directory));
  }
  const std::string real = resolved.get();
  if (real != root && !absl::StartsWith(real, root == "/" ? root : root + "/")) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": ", path, " is not under the vsock root ", root));
  }
  return absl::OkStatus();
}

}  // namespace vmmd
