#include "tools/vmmctl/commands.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "tools/vmmctl/format.h"
#include "tools/vmmctl/requests.h"
#include "tools/vmmctl/run_command.h"

namespace vmmctl {
namespace {

using Stub = vmm::v1::VmmService::StubInterface;

int Create(const Invocation& invocation, const CommandContext& context) {
  const vmm::v1::CreateVmRequest request = MakeCreateVmRequest(invocation);
  vmm::v1::Vm vm;
  if (!CallRpc(context, "CreateVm", &Stub::CreateVm, request, &vm).ok()) return 1;
  // The id alone, so that scripts can say id=$(vmmctl create).
  return PrintResponse(context, vm, absl::StrCat(vm.vm_id(), "\n"));
}

int Boot(const Invocation& invocation, const CommandContext& context) {
  const vmm::v1::ConfigureBootRequest request =
      MakeConfigureBootRequest(invocation, invocation.vm_id);
  vmm::v1::BootInfo info;
  if (!CallRpc(context, "ConfigureBoot", &Stub::ConfigureBoot, request, &info).ok()) return 1;
  return PrintResponse(context, info, FormatBootInfo(info));
}

// start, pause, resume, stop: a request holding only the id, a Vm back.
template <typename Request>
int ChangeState(const Invocation& invocation, const CommandContext& context,
                absl::string_view rpc_name,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, vmm::v1::Vm*)) {
  Request request;
  request.set_vm_id(invocation.vm_id);
  vmm::v1::Vm vm;
  if (!CallRpc(context, rpc_name, method, request, &vm).ok()) return 1;
  return PrintResponse(context, vm, FormatStateLine(vm));
}

int Get(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::GetVmRequest request;
  request.set_vm_id(invocation.vm_id);
  vmm::v1::Vm vm;
  if (!CallRpc(context, "GetVm", &Stub::GetVm, request, &vm).ok()) return 1;
  return PrintResponse(context, vm, FormatVm(vm));
}

int List(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::ListVmsRequest request;
  request.set_label_selector(invocation.label_selector);
  vmm::v1::ListVmsResponse list;
  if (!CallRpc(context, "ListVms", &Stub::ListVms, request, &list).ok()) {
    return 1;
  }
  return PrintResponse(context, list, FormatVmList(list));
}

int Delete(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::DeleteVmRequest request;
  request.set_vm_id(invocation.vm_id);
  vmm::v1::DeleteVmResponse response;
  if (!CallRpc(context, "DeleteVm", &Stub::DeleteVm, request, &response).ok()) return 1;
  return PrintResponse(context, response, absl::StrCat(response.vm_id(), ": deleted\n"));
}

// Prints each event of a Watch* stream, a line each (or JSON), until the stream ends. No
// deadline: watching lasts as long as the VM (WatchVm) or forever (WatchVms).
template <typename Request>
int PrintEvents(const CommandContext& context, const char* rpc,
                std::unique_ptr<grpc::ClientReaderInterface<vmm::v1::VmEvent>> (Stub::*method)(
                    grpc::ClientContext*, const Request&),
                const Request& request) {
  grpc::ClientContext client_context;
  std::unique_ptr<grpc::ClientReaderInterface<vmm::v1::VmEvent>> reader =
      (context.stub->*method)(&client_context, request);
  vmm::v1::VmEvent event;
  int exit_status = 0;
  while (reader->Read(&event)) {
    if (PrintResponse(context, event, FormatVmEvent(event)) != 0) exit_status = 1;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    *context.err << FormatRpcError(rpc, status);
    return 1;
  }
  return exit_status;
}

int Watch(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::WatchVmRequest request;
  request.set_vm_id(invocation.vm_id);
  return PrintEvents(context, "WatchVm", &Stub::WatchVm, request);
}

int WatchAll(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::WatchVmsRequest request;
  request.set_label_selector(invocation.label_selector);
  return PrintEvents(context, "WatchVms", &Stub::WatchVms, request);
}

int Snapshot(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::SnapshotVmRequest request;
  request.set_vm_id(invocation.vm_id);
  request.set_snapshot_dir(invocation.snapshot_dir);
  vmm::v1::SnapshotInfo info;
  if (!CallRpc(context, "SnapshotVm", &Stub::SnapshotVm, request, &info).ok()) return 1;
  return PrintResponse(context, info, FormatSnapshotInfo(info));
}

int Restore(const Invocation& invocation, const CommandContext& context) {
  vmm::v1::Vm vm;
  if (!CallRpc(context, "RestoreVm", &Stub::RestoreVm, MakeRestoreVmRequest(invocation), &vm).ok()) {
    return 1;
  }
  // The id alone, as create prints it.
  return PrintResponse(context, vm, absl::StrCat(vm.vm_id(), "\n"));
}

}  // namespace

int ExecuteCommand(const Invocation& invocation, const CommandContext& context) {
  switch (invocation.command) {
    case Command::kCreate:
      return Create(invocation, context);
    case Command::kBoot:
      return Boot(invocation, context);
    case Command::kStart:
      return ChangeState<vmm::v1::StartVcpusRequest>(invocation, context, "StartVcpus",
                                                     &Stub::StartVcpus);
    case Command::kConsole:
      return CopyConsole(context, invocation.vm_id, invocation.follow) ? 0 : 1;
    case Command::kGet:
      return Get(invocation, context);
    case Command::kList:
      return List(invocation, context);
    case Command::kPause:
      return ChangeState<vmm::v1::PauseVmRequest>(invocation, context, "PauseVm", &Stub::PauseVm);
    case Command::kResume:
      return ChangeState<vmm::v1::ResumeVmRequest>(invocation, context, "ResumeVm",
                                                   &Stub::ResumeVm);
    case Command::kStop:
      return ChangeState<vmm::v1::StopVmRequest>(invocation, context, "StopVm", &Stub::StopVm);
    case Command::kDelete:
      return Delete(invocation, context);
    case Command::kWatch:
      return Watch(invocation, context);
    case Command::kWatchAll:
      return WatchAll(invocation, context);
    case Command::kHost: {
      vmm::v1::HostInfo info;
      if (!CallRpc(context, "GetHostInfo", &Stub::GetHostInfo, vmm::v1::GetHostInfoRequest(), &info).ok()) {
        return 1;
      }
      return PrintResponse(context, info, FormatHostInfo(info));
    }
    case Command::kRun:
      return RunVm(invocation, context);
    case Command::kSnapshot:
      return Snapshot(invocation, context);
    case Command::kRestore:
      return Restore(invocation, context);
    case Command::kHelp:
      break;
  }
  *context.err << "vmmctl: internal error: no handler for this command\n";
  return 1;
}

}  // namespace vmmctl
