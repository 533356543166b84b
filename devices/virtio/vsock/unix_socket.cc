#include "devices/virtio/vsock/unix_socket.h"

#include <errno.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/errno_status.h"

namespace vmmd::virtio::vsock {
namespace {

absl::StatusOr<sockaddr_un> Address(const std::string& path) {
  if (path.empty() || path.size() > kMaxUnixPathLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Unix socket path \"%s\" must be 1 to %d bytes long", path, kMaxUnixPathLength));
  }
  sockaddr_un address;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

absl::StatusOr<UniqueFd> StreamSocket() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ::vmmd::ErrnoToStatus(errno, "socket(AF_UNIX, SOCK_STREAM)");
  return fd;
}

}  // namespace

std::string PortSocketPath(absl::string_view uds_path, uint32_t port) {
  return absl::StrCat(uds_path, "_", port);
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path) {
  absl::StatusOr<sockaddr_un> address = Address(path);
  if (!address.ok()) return address.status();
  absl::StatusOr<UniqueFd> fd = StreamSocket();
  if (!fd.ok()) return fd.status();
  if (::bind(fd->get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("bind(", path, ")"));
  }
  if (::listen(fd->get(), kListenBacklog) != 0) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("listen(", path, ")"));
  }
  return fd;
}

absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path) {
  absl::StatusOr<sockaddr_un> address = Address(path);
  if (!address.ok()) return address.status();
  absl::StatusOr<UniqueFd> fd = StreamSocket();
  if (!fd.ok()) return fd.status();
  int result;
  do {
    result =
        ::connect(fd->get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address));
  } while (result != 0 && errno == EINTR);
  if (result != 0) return ::vmmd::ErrnoToStatus(errno, absl::StrCat("connect(", path, ")"));
  return fd;
}

absl::StatusOr<std::optional<UniqueFd>> AcceptUnix(int listener) {
  while (true) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return std::optional<UniqueFd>(UniqueFd(fd));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
      return std::optional<UniqueFd>();
    }
    return ::vmmd::ErrnoToStatus(errno, "accept4(vsock listener)");
  }
}

}  // namespace vmmd::virtio::vsock
