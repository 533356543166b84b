#include "tools/vmmctl/command_context.h"

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "tools/vmmctl/json.h"

namespace vmmctl {

void SetDeadline(absl::Duration timeout, grpc::ClientContext& client_context) {
  if (timeout == absl::InfiniteDuration()) return;
  client_context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

int PrintResponse(const CommandContext& context, const google::protobuf::Message& message,
                  absl::string_view text) {
  if (!context.json) {
    *context.out << text;
    context.out->flush();
    return 0;
  }
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) {
    *context.err << "vmmctl: " << json.status().message() << "\n";
    return 1;
  }
  *context.out << *json << "\n";
  context.out->flush();
  return 0;
}

bool CopyConsole(const CommandContext& context, const std::string& vm_id, bool follow) {
  grpc::ClientContext client_context;
  if (!follow) SetDeadline(context.timeout, client_context);
  vmm::v1::StreamConsoleRequest request;
  request.set_vm_id(vm_id);
  request.set_follow(follow);
  Interruption::CallScope scope(context.interruption, &client_context);
  std::unique_ptr<grpc::ClientReaderInterface<vmm::v1::ConsoleChunk>> reader =
      context.stub->StreamConsole(&client_context, request);
  vmm::v1::ConsoleChunk chunk;
  uint64_t next_offset = 0;
  bool output_failed = false;
  while (reader->Read(&chunk)) {
    if (chunk.offset() > next_offset) {
      *context.err << "vmmctl: console of " << vm_id << ": " << chunk.offset() - next_offset
                   << " bytes lost before offset " << chunk.offset()
                   << " (vmmd's console buffer overflowed)\n";
    }
    next_offset = chunk.offset() + chunk.data().size();
    context.out->write(chunk.data().data(), chunk.data().size());
    context.out->flush();
    if (!*context.out) {
      output_failed = true;
      client_context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (output_failed) {
    *context.err << "vmmctl: console of " << vm_id << ": cannot write to stdout\n";
    return false;
  }
  if (!status.ok()) {
    if (!context.interrupted()) *context.err << FormatRpcError("StreamConsole", status);
    return false;
  }
  return true;
}

}  // namespace vmmctl
