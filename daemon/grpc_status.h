// The one place an absl::Status becomes a grpc::Status.
#ifndef VMMD_DAEMON_GRPC_STATUS_H_
#define VMMD_DAEMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace vmmd {

// Same code and message (the codes share numbering). UNKNOWN never leaves the daemon: an
// error nobody classified is reported as INTERNAL.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace vmmd

#endif  // VMMD_DAEMON_GRPC_STATUS_H_
