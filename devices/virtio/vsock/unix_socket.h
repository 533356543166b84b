// The host side of vsock is made of Unix stream sockets, as in Firecracker (docs/vsock.md):
// the device listens at `uds_path` for host programs, and reaches a host service for guest
// port P at "<uds_path>_P". These are the socket calls it makes, every fd non-blocking and
// close-on-exec, so that the VM's event loop never waits on one.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_UNIX_SOCKET_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_UNIX_SOCKET_H_

#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace vmmd::virtio::vsock {

// The longest path a sockaddr_un holds (<sys/un.h>: sun_path is 108 bytes, NUL included).
inline constexpr size_t kMaxUnixPathLength = sizeof(sockaddr_un::sun_path) - 1;
// The longest `uds_path` for which "<uds_path>_<port>" fits for every 32-bit port ("_" and
// ten digits).
inline constexpr size_t kMaxUdsPathLength = kMaxUnixPathLength - 11;
// Host programs that may wait in the kernel to be accepted (listen(2)'s backlog).
inline constexpr int kListenBacklog = 128;

// "<uds_path>_<port>": where a host service for guest connections to `port` listens.
std::string PortSocketPath(absl::string_view uds_path, uint32_t port);

// A socket bound to `path` (which must not exist) and listening. INVALID_ARGUMENT when the
// path is empty or longer than kMaxUnixPathLength; otherwise socket/bind/listen errors
// through ErrnoToStatus (EADDRINUSE -> FAILED_PRECONDITION, ENOENT -> NOT_FOUND, EACCES ->
// PERMISSION_DENIED, ...), naming the path.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path);

// A socket connected to the listener at `path`, without waiting: a Unix listener either
// takes the connection at once or refuses it (EAGAIN when its backlog is full). Errors as
// ListenUnix's (ENOENT -> NOT_FOUND, ECONNREFUSED -> UNAVAILABLE, ...).
absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path);

// The next connection waiting on `listener`, or nullopt when none is (EAGAIN) or the one
// there gave up (ECONNABORTED). Other accept4 errors through ErrnoToStatus (EMFILE ->
// RESOURCE_EXHAUSTED).
absl::StatusOr<std::optional<UniqueFd>> AcceptUnix(int listener);

}  // namespace vmmd::virtio::vsock

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_UNIX_SOCKET_H_
