// Builds vmmd's gRPC server: VmmService, grpc.health.v1.Health and server reflection, with
// explicit limits on message size, streams and keepalive.
#ifndef VMMD_DAEMON_SERVER_H_
#define VMMD_DAEMON_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/listen_address.h"
#include "daemon/vmm_service.h"
#include "grpcpp/server.h"

namespace vmmd {

struct ServerLimits {
  int max_receive_message_bytes = 4 << 20;  // requests are small
  int max_send_message_bytes = 16 << 20;
  int max_concurrent_streams = 256;
  int max_server_threads = 512;  // the sync server's thread pool (streams hold a thread)
};

// Starts serving `service` on `address`. The returned server is shut down by its owner.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(const ListenAddress& address,
                                                           VmmServiceImpl* service,
                                                           const ServerLimits& limits = {});

}  // namespace vmmd

#endif  // VMMD_DAEMON_SERVER_H_
