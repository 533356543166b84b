// How a failed call is reported: "vmmctl: GetVm: NOT_FOUND: no VM named vm-9".
#ifndef VMMD_TOOLS_VMMCTL_RPC_ERROR_H_
#define VMMD_TOOLS_VMMCTL_RPC_ERROR_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace vmmctl {

// The canonical name of a gRPC status code ("DEADLINE_EXCEEDED"), or "CODE_<n>".
std::string StatusCodeName(int code);

// "vmmctl: <rpc>: <CODE>: <message>\n".
std::string FormatRpcError(absl::string_view rpc, const grpc::Status& status);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_RPC_ERROR_H_
