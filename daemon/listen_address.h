// Where vmmd listens: a Unix socket by default, TCP when asked (beyond loopback only with TLS;
// see server.h).
#ifndef VMMD_DAEMON_LISTEN_ADDRESS_H_
#define VMMD_DAEMON_LISTEN_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmd {

inline constexpr char kDefaultListenAddress[] = "unix:/run/vmmd/vmmd.sock";

struct ListenAddress {
  bool is_unix = true;
  // Reachable from this host only: a Unix socket, or TCP on 127.0.0.0/8, [::1] or localhost.
  bool is_loopback = true;
  std::string unix_path;    // for a Unix socket
  std::string grpc_target;  // what grpc::ServerBuilder::AddListeningPort takes
};

// Parses "unix:/abs/path" or "tcp:HOST:PORT": HOST an IPv4 address, an IPv6 address in
// brackets ([::1], [::]) or a host name; PORT 1 to 65535. INVALID_ARGUMENT otherwise. Whether
// a TCP address beyond loopback may be served (only with TLS) is StartServer's decision.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address);

// For a Unix socket: creates its directory (mode 0750, group `group` if given) if missing,
// and removes a stale socket file left by a daemon that died. FAILED_PRECONDITION if another
// daemon answers on the socket.
absl::Status PrepareUnixSocket(const ListenAddress& address, const std::string& group);

// After the server listens: the socket itself becomes 0660 (and `group`'s, if given).
absl::Status RestrictUnixSocket(const ListenAddress& address, const std::string& group);

}  // namespace vmmd

#endif  // VMMD_DAEMON_LISTEN_ADDRESS_H_
