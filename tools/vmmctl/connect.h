// Connecting to vmmd: opens the channel (plaintext, or TLS with the given files) and waits
// until it is ready, so that a daemon that is not there, or a failed TLS handshake, is
// reported as such (naming the address and what to check), not as the first call's
// UNAVAILABLE.
#ifndef VMMD_TOOLS_VMMCTL_CONNECT_H_
#define VMMD_TOOLS_VMMCTL_CONNECT_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "tools/vmmctl/address.h"
#include "tools/vmmctl/client_tls.h"

namespace vmmctl {

// For a Unix socket, first tries connect(2) itself to tell the common failures apart.
//   UNAVAILABLE: no socket there, nobody listening, or the channel failed to connect (the
//     TLS handshake included);
//   PERMISSION_DENIED: the socket is not ours to use;
//   DEADLINE_EXCEEDED: still connecting after `timeout` (absl::InfiniteDuration(): wait).
// The message names the address and suggests what to do. `tls`: nullopt for plaintext.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Address& address,
                                                       const std::optional<ClientTls>& tls,
                                                       absl::Duration timeout);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_CONNECT_H_
