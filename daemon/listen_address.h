// Where vmmd listens: a Unix socket by default, TCP on loopback only when asked.
#ifndef VMMD_DAEMON_LISTEN_ADDRESS_H_
#define VMMD_DAEMON_LISTEN_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmd {

inline constexpr char kDefaultListenAddress[] = "unix:/run/vmmd/vmmd.sock";

struct ListenAddress {
  bool is_unix = true;
  std::string unix_path;    // for a Unix socket
  std::string grpc_target;  // what grpc::ServerBuilder::AddListeningPort takes
};

// Parses "unix:/abs/path" or "tcp:HOST:PORT" (HOST 127.0.0.1, localhost or [::1]).
// INVALID_ARGUMENT otherwise; TCP beyond loopback is refused because the API carries no
// authentication of its own yet.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address);

// For a Unix socket: creates its directory (mode 0750, group `group` if given) if missing,
// and removes a stale socket file left by a daemon that died. FAILED_PRECONDITION if another
// daemon answers on the socket.
absl::Status PrepareUnixSocket(const ListenAddress& address, const std::string& group);

// After the server listens: the socket itself becomes 0660 (and `group`'s, if given).
absl::Status RestrictUnixSocket(const ListenAddress& address, const std::string& group);

}  // namespace vmmd

#endif  // VMMD_DAEMON_LISTEN_ADDRESS_H_
