// Why a channel failed to connect, in words that say what to check. The channel's state only
// says that it failed; the reason (refused, a certificate not verified, the peer closing the
// connection) is in the status of a call made while it is failing.
#ifndef VMMD_TOOLS_VMMCTL_CONNECTION_ERROR_H_
#define VMMD_TOOLS_VMMCTL_CONNECTION_ERROR_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "grpc/support/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "tools/vmmctl/address.h"
#include "tools/vmmctl/client_tls.h"

namespace vmmctl {

inline constexpr char kIsVmmdRunningHint[] =
    "; is vmmd running? (choose another daemon with --address or $VMMD_ADDRESS)";

// A harmless call (grpc.health.v1.Health/Check) that does not wait for the channel to be
// ready: while the channel is failing, UNAVAILABLE with gRPC's account of the last failed
// connection ("failed to connect to all addresses; last error: ..."); any other code came
// from a server (or the deadline). Waits at most until `deadline`, and 10 s.
grpc::Status ProbeConnection(const std::shared_ptr<grpc::Channel>& channel,
                             gpr_timespec deadline);

// "TLS handshake failed: ..." or "connection refused; ...": what `grpc_error` (as from
// ProbeConnection) means for a channel to `address` with `tls` (nullopt: plaintext),
// with what to check, and gRPC's own words at the end.
std::string ExplainConnectionError(absl::string_view grpc_error, const Address& address,
                                   const std::optional<ClientTls>& tls);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_CONNECTION_ERROR_H_
