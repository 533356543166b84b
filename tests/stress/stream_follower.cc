// stream_follower: a vmmd client in its own process, for tests that kill a client mid-stream.
// Follows StreamConsole (follow=true) or WatchVm of one VM; prints "following" on stdout once
// the first message has arrived, then keeps reading until the stream ends or it is killed.
//
//   stream_follower unix:/path/to/vmmd.sock console|watch VM_ID
#include <cstdio>
#include <cstring>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "vmm/v1/vmm.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc != 4 || (std::strcmp(argv[2], "console") != 0 && std::strcmp(argv[2], "watch") != 0)) {
    std::fprintf(stderr, "usage: %s TARGET console|watch VM_ID\n", argv[0]);
    return 2;
  }
  auto stub = vmm::v1::VmmService::NewStub(
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  bool first = true;
  auto announce = [&first] {
    if (!first) return;
    first = false;
    std::printf("following\n");
    std::fflush(stdout);
  };
  grpc::Status status;
  if (std::strcmp(argv[2], "console") == 0) {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id(argv[3]);
    request.set_follow(true);
    auto reader = stub->StreamConsole(&context, request);
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) announce();
    status = reader->Finish();
  } else {
    vmm::v1::WatchVmRequest request;
    request.set_vm_id(argv[3]);
    auto reader = stub->WatchVm(&context, request);
    vmm::v1::VmEvent event;
    while (reader->Read(&event)) announce();
    status = reader->Finish();
  }
  std::printf("ended: %d %s\n", static_cast<int>(status.error_code()),
              status.error_message().c_str());
  return status.ok() ? 0 : 1;
}
