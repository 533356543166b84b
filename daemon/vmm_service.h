// VmmService: the gRPC API (proto/vmm/v1/vmm.proto) over a VmManager. Handlers validate,
// hand the work to the VM's worker and never block on KVM_RUN; the streaming calls wait in
// short slices so that a cancelled client or a deleted VM ends them promptly.
#ifndef VMMD_DAEMON_VMM_SERVICE_H_
#define VMMD_DAEMON_VMM_SERVICE_H_

#include "daemon/vm_manager.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {

class VmmServiceImpl final : public vmm::v1::VmmService::Service {
 public:
  explicit VmmServiceImpl(VmManager* manager) : manager_(manager) {}

  grpc::Status CreateVm(grpc::ServerContext* context, const vmm::v1::CreateVmRequest* request,
                        vmm::v1::Vm* response) override;
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
  grpc::Status StreamConsole(grpc::ServerContext* context,
                             const vmm::v1::StreamConsoleRequest* request,
                             grpc::ServerWriter<vmm::v1::ConsoleChunk>* writer) override;
  grpc::Status WatchVm(grpc::ServerContext* context, const vmm::v1::WatchVmRequest* request,
                       grpc::ServerWriter<vmm::v1::VmEvent>* writer) override;

 private:
  VmManager* const manager_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VMM_SERVICE_H_
