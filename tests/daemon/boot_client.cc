#include "tests/daemon/boot_client.h"

#include "gtest/gtest.h"

namespace vmmd::testing {

std::unique_ptr<grpc::ClientContext> Context(std::chrono::milliseconds deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  return context;
}

grpc::Status BootGuest(vmm::v1::VmmService::Stub& stub, const DaemonProcess& daemon,
                       const std::string& vm_id, const std::string& image_file,
                       const std::string& cmdline, uint32_t vcpus, uint64_t memory_mib,
                       vmm::v1::BootInfo* boot_info) {
  vmm::v1::CreateVmRequest create;
  create.set_vm_id(vm_id);
  create.set_vcpu_count(vcpus);
  create.set_memory_mib(memory_mib);
  vmm::v1::Vm vm;
  grpc::Status status = stub.CreateVm(Context().get(), create, &vm);
  if (!status.ok()) return status;
  if (vm.state() != vmm::v1::VM_STATE_CREATED) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "CreateVm answered " + vmm::v1::VmState_Name(vm.state()));
  }
  vmm::v1::ConfigureBootRequest configure;
  configure.set_vm_id(vm_id);
  configure.set_kernel_path(daemon.ImagePath(image_file));
  configure.set_cmdline(cmdline);
  vmm::v1::BootInfo info;
  status = stub.ConfigureBoot(Context().get(), configure, &info);
  if (!status.ok()) return status;
  if (boot_info != nullptr) *boot_info = info;
  vmm::v1::StartVcpusRequest start;
  start.set_vm_id(vm_id);
  return stub.StartVcpus(Context().get(), start, &vm);
}

std::string BootAndFollowConsole(vmm::v1::VmmService::Stub& stub, const DaemonProcess& daemon,
                                 const std::string& vm_id, const std::string& image_file,
                                 uint32_t vcpus, uint64_t memory_mib, const std::string& cmdline,
                                 vmm::v1::BootInfo* boot_info) {
  grpc::Status status =
      BootGuest(stub, daemon, vm_id, image_file, cmdline, vcpus, memory_mib, boot_info);
  EXPECT_TRUE(status.ok()) << status.error_message();

  vmm::v1::StreamConsoleRequest console;
  console.set_vm_id(vm_id);
  console.set_follow(true);
  auto context = Context();
  auto reader = stub.StreamConsole(context.get(), console);
  std::string text;
  vmm::v1::ConsoleChunk chunk;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), text.size()) << "no bytes dropped";
    text += chunk.data();
  }
  status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return text;
}

vmm::v1::Vm GetVmOrFail(vmm::v1::VmmService::Stub& stub, const std::string& vm_id) {
  vmm::v1::GetVmRequest request;
  request.set_vm_id(vm_id);
  vmm::v1::Vm vm;
  const grpc::Status status = stub.GetVm(Context().get(), request, &vm);
  EXPECT_TRUE(status.ok()) << vm_id << ": " << status.error_message();
  return vm;
}

std::string ReadConsole(vmm::v1::VmmService::Stub& stub, const std::string& vm_id, bool follow,
                        std::chrono::milliseconds deadline) {
  vmm::v1::StreamConsoleRequest request;
  request.set_vm_id(vm_id);
  request.set_follow(follow);
  auto context = Context(deadline);
  auto reader = stub.StreamConsole(context.get(), request);
  std::string text;
  vmm::v1::ConsoleChunk chunk;
  while (reader->Read(&chunk)) text += chunk.data();
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << vm_id << ": " << status.error_message() << "\nconsole so far:\n"
                           << text;
  return text;
}

}  // namespace vmmd::testing
