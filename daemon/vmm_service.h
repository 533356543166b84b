// VmmService: the gRPC API (proto/vmm/v1/vmm.proto) over a VmManager. Unary handlers
// validate, hand the work to the VM's worker and never block on KVM_RUN. The streaming calls
// (StreamConsole, WatchVm) use gRPC's callback API: a follower holds no thread, and is woken
// by the console ring or the event log (daemon/follow_stream.h), never by polling.
#ifndef VMMD_DAEMON_VMM_SERVICE_H_
#define VMMD_DAEMON_VMM_SERVICE_H_

#include <functional>
#include <string>

#include "daemon/idempotent_creates.h"
#include "daemon/vm_manager.h"
#include "daemon/worker_thread.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {

class VmmServiceImpl final
    : public vmm::v1::VmmService::WithCallbackMethod_StreamConsole<
          vmm::v1::VmmService::WithCallbackMethod_WatchVm<
              vmm::v1::VmmService::WithCallbackMethod_WatchVms<vmm::v1::VmmService::Service>>> {
 public:
  explicit VmmServiceImpl(VmManager* manager) : manager_(manager), pump_("streams/pump") {}

  grpc::Status CreateVm(grpc::ServerContext* context, const vmm::v1::CreateVmRequest* request,
                        vmm::v1::Vm* response) override;
  grpc::Status RunVm(grpc::ServerContext* context, const vmm::v1::RunVmRequest* request,
                     vmm::v1::Vm* response) override;
  grpc::Status GetHostInfo(grpc::ServerContext* context, const vmm::v1::GetHostInfoRequest* request,
                           vmm::v1::HostInfo* response) override;
  grpc::Status ConfigureBoot(grpc::ServerContext* context,
                             const vmm::v1::ConfigureBootRequest* request,
                             vmm::v1::BootInfo* response) override;
  grpc::Status StartVcpus(grpc::ServerContext* context, const vmm::v1::StartVcpusRequest* request,
                          vmm::v1::Vm* response) override;
  grpc::Status GetVm(grpc::ServerContext* context, const vmm::v1::GetVmRequest* request,
                     vmm::v1::Vm* response) override;
  grpc::Status ListVms(grpc::ServerContext* context, const vmm::v1::ListVmsRequest* request,
                       vmm::v1::ListVmsResponse* response) override;
  grpc::Status PauseVm(grpc::ServerContext* context, const vmm::v1::PauseVmRequest* request,
                       vmm::v1::Vm* response) override;
  grpc::Status ResumeVm(grpc::ServerContext* context, const vmm::v1::ResumeVmRequest* request,
                        vmm::v1::Vm* response) override;
  grpc::Status StopVm(grpc::ServerContext* context, const vmm::v1::StopVmRequest* request,
                      vmm::v1::Vm* response) override;
  grpc::Status DeleteVm(grpc::ServerContext* context, const vmm::v1::DeleteVmRequest* request,
                        vmm::v1::DeleteVmResponse* response) override;
  grpc::Status SnapshotVm(grpc::ServerContext* context, const vmm::v1::SnapshotVmRequest* request,
                          vmm::v1::SnapshotInfo* response) override;
  grpc::Status RestoreVm(grpc::ServerContext* context, const vmm::v1::RestoreVmRequest* request,
                         vmm::v1::Vm* response) override;
  grpc::ServerWriteReactor<vmm::v1::ConsoleChunk>* StreamConsole(
      grpc::CallbackServerContext* context, const vmm::v1::StreamConsoleRequest* request) override;
  grpc::ServerWriteReactor<vmm::v1::VmEvent>* WatchVm(
      grpc::CallbackServerContext* context, const vmm::v1::WatchVmRequest* request) override;
  grpc::ServerWriteReactor<vmm::v1::VmEvent>* WatchVms(
      grpc::CallbackServerContext* context, const vmm::v1::WatchVmsRequest* request) override;

 private:
  // Checks the request with `validate`, then makes a VM with `make` (which returns its id)
  // once per client-chosen vm_id and request (daemon/idempotent_creates.h), and answers with
  // it.
  grpc::Status Idempotently(const std::string& vm_id, const google::protobuf::Message& request,
                            vmm::v1::Vm* response, const std::function<absl::Status()>& validate,
                            const std::function<absl::StatusOr<std::string>()>& make);

  VmManager* const manager_;
  IdempotentCreates creates_;
  // Runs the streams' continuations when the console or the event log wakes them (from a
  // vCPU thread, which may not call into gRPC).
  WorkerThread pump_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VMM_SERVICE_H_
