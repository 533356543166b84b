// Builds vmmd's gRPC server: VmmService, grpc.health.v1.Health and server reflection, with
// explicit limits on message size, streams and keepalive, and the transport security its
// listen address calls for.
#ifndef VMMD_DAEMON_SERVER_H_
#define VMMD_DAEMON_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/listen_address.h"
#include "daemon/metrics/rpc_metrics.h"
#include "daemon/vmm_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"

namespace vmmd {

struct ServerLimits {
  int max_receive_message_bytes = 4 << 20;  // requests are small
  int max_send_message_bytes = 16 << 20;
  int max_concurrent_streams = 256;
  int max_server_threads = 512;  // the sync server's thread pool (streams hold a thread)
};

// TLS for a TCP listener, as PEM files: the server's certificate chain and private key, and
// optionally the CA that clients' certificates must chain to. With a client CA every client
// must present such a certificate (mutual TLS); without one, TLS authenticates the server and
// encrypts, and anyone who can reach the port may call.
struct TlsFiles {
  std::string cert_file;       // --tls_cert_file
  std::string key_file;        // --tls_key_file
  std::string client_ca_file;  // --tls_client_ca_file
  bool any() const { return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty(); }
};

// The credentials to listen on `address` with: plaintext for a Unix socket and for loopback
// TCP without TLS files, TLS (mutual with a client CA) when the files are given. Reads the
// files now, so that a bad one stops the daemon at start rather than at the first handshake.
// INVALID_ARGUMENT for TCP beyond loopback without TLS, for TLS files with a Unix socket, for
// a certificate without its key (or the reverse), for a client CA without a server
// certificate, or for a file that holds no PEM data; the file's errno (NOT_FOUND,
// PERMISSION_DENIED, ...) if it cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ListenAddress& address, const TlsFiles& tls);

// Starts serving `service` on `address` with `credentials` (null: plaintext, which only a Unix
// socket or loopback TCP may use; INVALID_ARGUMENT otherwise), recording every call's time
// and status in `rpc_metrics` if given (it must outlive the server). UNAVAILABLE if it cannot
// listen. The returned server is shut down by its owner.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    const ListenAddress& address, VmmServiceImpl* service, const ServerLimits& limits = {},
    std::shared_ptr<grpc::ServerCredentials> credentials = nullptr,
    metrics::RpcMetrics* rpc_metrics = nullptr);

}  // namespace vmmd

#endif  // VMMD_DAEMON_SERVER_H_
