#include "tools/vmmctl/run_command.h"

#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tools/vmmctl/format.h"
#include "tools/vmmctl/requests.h"

namespace vmmctl {
namespace {

using Stub = vmm::v1::VmmService::StubInterface;

std::string SignalName(int signal_number) {
  switch (signal_number) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return absl::StrCat("signal ", signal_number);
  }
}

class Runner {
 public:
  Runner(const Invocation& invocation, const CommandContext& context)
      : invocation_(invocation), context_(context), err_(*context.err) {}

  int Run() {
    // One call: vmmd creates, configures and starts the VM, and leaves nothing behind if a
    // step fails.
    vmm::v1::RunVmRequest request;
    *request.mutable_create() = MakeCreateVmRequest(invocation_);
    *request.mutable_boot() = MakeConfigureBootRequest(invocation_, "");
    request.set_start(true);
    vmm::v1::Vm vm;
    if (!CallRpc(context_, "RunVm", &Stub::RunVm, request, &vm).ok()) {
      if (context_.interrupted()) {
        err_ << "vmmctl: interrupted by " << SignalName(context_.interruption->signal_number())
             << " while creating the VM; if it was created, 'vmmctl list' shows it\n";
        return 128 + context_.interruption->signal_number();
      }
      return 1;
    }
    vm_id_ = vm.vm_id();

    if (!CopyConsole(context_, vm_id_, /*follow=*/true) || context_.interrupted()) return Abandon();

    vmm::v1::GetVmRequest get;
    get.set_vm_id(vm_id_);
    if (!CallRpc(context_, "GetVm", &Stub::GetVm, get, &vm).ok()) return Abandon();
    if (vm.state() != vmm::v1::VM_STATE_STOPPED) {
      err_ << "vmmctl: vm " << vm_id_ << ": the console stream ended while the VM is "
           << StateName(vm.state()) << "\n";
      return Abandon();
    }
    err_ << "vmmctl: vm " << vm_id_ << " stopped: "
         << (vm.exit_reason().empty() ? "no reason given" : vm.exit_reason()) << "\n";
    return CleanUp() ? 0 : 1;
  }

 private:
  // After a failed step (already reported) or a signal: deletes the VM unless --keep.
  int Abandon() {
    if (context_.interrupted()) {
      const int signal_number = context_.interruption->signal_number();
      err_ << "vmmctl: interrupted by " << SignalName(signal_number)
           << (invocation_.keep ? "" : absl::StrCat("; deleting vm ", vm_id_)) << "\n";
      CleanUp();
      return 128 + signal_number;
    }
    CleanUp();
    return 1;
  }

  // Deletes the VM unless --keep. Returns false if DeleteVm failed (reported).
  bool CleanUp() {
    if (invocation_.keep) {
      err_ << "vmmctl: kept vm " << vm_id_ << "; delete it with: vmmctl delete " << vm_id_ << "\n";
      return true;
    }
    // Not interruptible: this is what the interruption is waiting for.
    CommandContext cleanup = context_;
    cleanup.interruption = nullptr;
    vmm::v1::DeleteVmRequest request;
    request.set_vm_id(vm_id_);
    vmm::v1::DeleteVmResponse response;
    return CallRpc(cleanup, "DeleteVm", &Stub::DeleteVm, request, &response).ok();
  }

  const Invocation& invocation_;
  const CommandContext& context_;
  std::ostream& err_;
  std::string vm_id_;
};

}  // namespace

int RunVm(const Invocation& invocation, const CommandContext& context) {
  return Runner(invocation, context).Run();
}

}  // namespace vmmctl
