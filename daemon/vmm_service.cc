#include "daemon/vmm_service.h"

#include "daemon/grpc_status.h"
#include "daemon/proto_conversion.h"

namespace vmmd {
namespace {

using ApiVm = vmm::v1::Vm;

// How long a streaming handler waits for data before checking for cancellation.
constexpr absl::Duration kStreamPollSlice = absl::Milliseconds(200);
constexpr size_t kConsoleChunkBytes = 64 * 1024;

// Runs `action` on the VM named by `vm_id`, then answers with the VM's status.
template <typename Action>
grpc::Status ActOnVm(VmManager& manager, const std::string& vm_id, ApiVm* response, Action action) {
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager.Get(vm_id);
  if (!vm.ok()) return ToGrpcStatus(vm.status());
  absl::Status status = action(**vm);
  if (!status.ok()) return ToGrpcStatus(status);
  ToProto((*vm)->Status(), response);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status VmmServiceImpl::CreateVm(grpc::ServerContext*, const vmm::v1::CreateVmRequest* request,
                                      ApiVm* response) {
  CreateVmParams params;
  params.vm_id = request->vm_id();
  params.vcpu_count = request->vcpu_count();
  params.memory_mib = request->memory_mib();
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Create(params);
  if (!vm.ok()) return ToGrpcStatus(vm.status());
  ToProto((*vm)->Status(), response);
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::ConfigureBoot(grpc::ServerContext*,
                                           const vmm::v1::ConfigureBootRequest* request,
                                           vmm::v1::BootInfo* response) {
  ConfigureBootParams params;
  params.vm_id = request->vm_id();
  params.kernel_path = request->kernel_path();
  params.initrd_path = request->initrd_path();
  params.cmdline = request->cmdline();
  params.boot_protocol = request->boot_protocol();
  absl::StatusOr<BootInfo> info = manager_->ConfigureBoot(params);
  if (!info.ok()) return ToGrpcStatus(info.status());
  ToProto(*info, response);
  response->set_kernel_path(request->kernel_path());
  response->set_cmdline(request->cmdline());
  if (auto vm = manager_->Get(request->vm_id()); vm.ok()) {
    response->set_kernel_format((*vm)->Status().kernel_format);
  }
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::StartVcpus(grpc::ServerContext*, const vmm::v1::StartVcpusRequest* request,
                                        ApiVm* response) {
  const absl::Duration timeout = manager_->options().worker_timeout;
  return ActOnVm(*manager_, request->vm_id(), response,
                 [&](VirtualMachine& vm) { return vm.Start(timeout); });
}

grpc::Status VmmServiceImpl::GetVm(grpc::ServerContext*, const vmm::v1::GetVmRequest* request,
                                   ApiVm* response) {
  return ActOnVm(*manager_, request->vm_id(), response,
                 [](VirtualMachine&) { return absl::OkStatus(); });
}

grpc::Status VmmServiceImpl::ListVms(grpc::ServerContext*, const vmm::v1::ListVmsRequest*,
                                     vmm::v1::ListVmsResponse* response) {
  for (const auto& vm : manager_->List()) ToProto(vm->Status(), response->add_vms());
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::PauseVm(grpc::ServerContext*, const vmm::v1::PauseVmRequest* request,
                                     ApiVm* response) {
  const absl::Duration timeout = manager_->options().worker_timeout;
  return ActOnVm(*manager_, request->vm_id(), response,
                 [&](VirtualMachine& vm) { return vm.Pause(timeout); });
}

grpc::Status VmmServiceImpl::ResumeVm(grpc::ServerContext*, const vmm::v1::ResumeVmRequest* request,
                                      ApiVm* response) {
  const absl::Duration timeout = manager_->options().worker_timeout;
  return ActOnVm(*manager_, request->vm_id(), response,
                 [&](VirtualMachine& vm) { return vm.Resume(timeout); });
}

grpc::Status VmmServiceImpl::StopVm(grpc::ServerContext*, const vmm::v1::StopVmRequest* request,
                                    ApiVm* response) {
  const absl::Duration timeout = manager_->options().worker_timeout;
  return ActOnVm(*manager_, request->vm_id(), response,
                 [&](VirtualMachine& vm) { return vm.Stop(timeout); });
}

grpc::Status VmmServiceImpl::DeleteVm(grpc::ServerContext*, const vmm::v1::DeleteVmRequest* request,
                                      vmm::v1::DeleteVmResponse* response) {
  absl::Status status = manager_->Delete(request->vm_id());
  if (!status.ok()) return ToGrpcStatus(status);
  response->set_vm_id(request->vm_id());
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::StreamConsole(grpc::ServerContext* context,
                                           const vmm::v1::StreamConsoleRequest* request,
                                           grpc::ServerWriter<vmm::v1::ConsoleChunk>* writer) {
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Get(request->vm_id());
  if (!vm.ok()) return ToGrpcStatus(vm.status());
  ConsoleBuffer& console = (*vm)->console();
  uint64_t offset = 0;
  while (!context->IsCancelled()) {
    ConsoleBuffer::Chunk chunk = console.Read(
        offset, kConsoleChunkBytes, request->follow() ? kStreamPollSlice : absl::ZeroDuration());
    if (!chunk.data.empty()) {
      vmm::v1::ConsoleChunk message;
      message.set_offset(chunk.offset);
      message.set_data(std::move(chunk.data));
      offset = chunk.offset + message.data().size();
      if (!writer->Write(message)) break;  // the client went away
      continue;
    }
    if (!request->follow() || chunk.closed) break;
  }
  if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::WatchVm(grpc::ServerContext* context,
                                     const vmm::v1::WatchVmRequest* request,
                                     grpc::ServerWriter<vmm::v1::VmEvent>* writer) {
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Get(request->vm_id());
  if (!vm.ok()) return ToGrpcStatus(vm.status());
  uint64_t next = 0;
  while (!context->IsCancelled()) {
    EventLog::Batch batch = (*vm)->events().Read(next, kStreamPollSlice);
    for (const VmEventRecord& event : batch.events) {
      vmm::v1::VmEvent message;
      ToProto((*vm)->id(), event, &message);
      if (!writer->Write(message)) return grpc::Status::OK;
      next = event.sequence + 1;
      // A stopped VM has nothing more to say.
      if (event.state == VmState::kStopped) return grpc::Status::OK;
    }
    if (batch.closed && batch.events.empty()) break;
  }
  if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
  return grpc::Status::OK;
}

}  // namespace vmmd
