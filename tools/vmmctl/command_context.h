// What every command is given (the stub, the output streams, --json, the deadline) and the
// helpers they share: one unary call, with errors reported the one way; one response
// printed as JSON or as text.
#ifndef VMMD_TOOLS_VMMCTL_COMMAND_CONTEXT_H_
#define VMMD_TOOLS_VMMCTL_COMMAND_CONTEXT_H_

#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "tools/vmmctl/interruption.h"
#include "tools/vmmctl/rpc_error.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmctl {

struct CommandContext {
  vmm::v1::VmmService::StubInterface* stub = nullptr;
  std::ostream* out = nullptr;  // responses; console bytes
  std::ostream* err = nullptr;  // errors and notes
  bool json = false;
  // Deadline of each unary call and of a console read without --follow.
  absl::Duration timeout = absl::Seconds(30);
  // `run` only: a signal cancels the call in flight. Null: calls are never interrupted.
  Interruption* interruption = nullptr;

  bool interrupted() const { return interruption != nullptr && interruption->interrupted(); }
};

// Sets `client_context`'s deadline `timeout` from now, unless it is infinite.
void SetDeadline(absl::Duration timeout, grpc::ClientContext& client_context);

// Writes `message` to context.out as one line of JSON if --json, else `text`. Returns the
// exit status: 0, or 1 if the JSON could not be made (the reason goes to context.err).
int PrintResponse(const CommandContext& context, const google::protobuf::Message& message,
                  absl::string_view text);

// Makes one unary call with the context's deadline, registered with its Interruption. A
// failure is written to context.err ("vmmctl: GetVm: NOT_FOUND: ..."), except a
// cancellation that an interruption caused: the interrupted command reports that itself.
template <typename Request, typename Response>
grpc::Status CallRpc(const CommandContext& context, absl::string_view rpc_name,
                     grpc::Status (vmm::v1::VmmService::StubInterface::*method)(
                         grpc::ClientContext*, const Request&, Response*),
                     const Request& request, Response* response) {
  grpc::ClientContext client_context;
  SetDeadline(context.timeout, client_context);
  grpc::Status status;
  {
    Interruption::CallScope scope(context.interruption, &client_context);
    status = (context.stub->*method)(&client_context, request, response);
  }
  if (!status.ok() && !context.interrupted()) *context.err << FormatRpcError(rpc_name, status);
  return status;
}

// Streams the VM's console to context.out, raw, flushing after each chunk, until the stream
// ends (without `follow`: once the bytes so far are sent; with it: when the VM stops or is
// deleted). Notes on context.err any bytes vmmd's ring buffer dropped. Returns false on
// failure, which it has reported unless an interruption caused it.
bool CopyConsole(const CommandContext& context, const std::string& vm_id, bool follow);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_COMMAND_CONTEXT_H_
