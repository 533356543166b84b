// Which vmmd to talk to: --address, else $VMMD_ADDRESS, else vmmd's default socket; and the
// gRPC channel target each address form becomes.
#ifndef VMMD_TOOLS_VMMCTL_ADDRESS_H_
#define VMMD_TOOLS_VMMCTL_ADDRESS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmctl {

// vmmd's own default (daemon/listen_address.h).
inline constexpr char kDefaultAddress[] = "unix:/run/vmmd/vmmd.sock";
inline constexpr char kAddressEnvVar[] = "VMMD_ADDRESS";

struct Address {
  std::string address;      // as the user wrote it, e.g. "tcp:127.0.0.1:7070"
  std::string source;       // "--address", "VMMD_ADDRESS" or "default": where it came from
  std::string grpc_target;  // what grpc::CreateChannel takes, e.g. "127.0.0.1:7070"
  std::string unix_path;    // the socket path for a unix: address, else empty
};

// Chooses between the --address flag (if given), the environment variable's value (if
// non-null and non-empty) and the default, in that order, and resolves it:
//   "unix:/path/to.sock" -> target "unix:/path/to.sock" (also "unix:///path"),
//   "tcp:HOST:PORT"      -> target "HOST:PORT" (HOST may be "[::1]").
// INVALID_ARGUMENT, naming the source, for anything else.
absl::StatusOr<Address> ResolveAddress(const std::optional<std::string>& flag_value,
                                       const char* env_value);

// Resolves one address string; `source` only names it in errors.
absl::StatusOr<Address> ParseAddress(absl::string_view address, absl::string_view source);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_ADDRESS_H_
