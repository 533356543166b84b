#include "daemon/vmm_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "glog/logging.h"

#include "daemon/follow_stream.h"
#include "daemon/host_info.h"
#include "daemon/labels.h"
#include "daemon/grpc_status.h"
#include "daemon/proto_conversion.h"

namespace vmmd {
namespace {

using ApiVm = vmm::v1::Vm;

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

namespace {

CreateVmParams CreateParams(const vmm::v1::CreateVmRequest& request) {
  CreateVmParams params;
  params.vm_id = request.vm_id();
  params.vcpu_count = request.vcpu_count();
  params.memory_mib = request.memory_mib();
  for (const vmm::v1::Drive& drive : request.drives()) {
    params.drives.push_back(
        DriveConfig{drive.drive_id(), drive.path(), drive.read_only(), drive.is_root_device()});
  }
  params.entropy_device = request.entropy_device();
  for (const vmm::v1::NetworkInterface& interface : request.network_interfaces()) {
    params.network_interfaces.push_back(
        NetworkInterfaceParams{interface.iface_id(), interface.host_dev_name(), interface.guest_mac()});
  }
  if (request.has_vsock()) {
    params.vsock = VsockConfig{request.vsock().guest_cid(), request.vsock().uds_path()};
  }
  params.labels = Labels(request.labels().begin(), request.labels().end());
  return params;
}

ConfigureBootParams BootParams(const vmm::v1::ConfigureBootRequest& request) {
  ConfigureBootParams params;
  params.vm_id = request.vm_id();
  params.kernel_path = request.kernel_path();
  params.initrd_path = request.initrd_path();
  params.cmdline = request.cmdline();
  params.boot_protocol = request.boot_protocol();
  params.acpi = request.acpi();
  return params;
}

// `status` with its message prefixed by the step that failed.
absl::Status AtStep(const char* step, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(step, ": ", status.message()));
}

}  // namespace

grpc::Status VmmServiceImpl::Idempotently(const std::string& vm_id,
                                          const google::protobuf::Message& request, ApiVm* response,
                                          const std::function<absl::Status()>& validate,
                                          const std::function<absl::StatusOr<std::string>()>& make) {
  // A malformed request is refused as such, whatever else claims its vm_id.
  if (absl::Status valid = validate(); !valid.ok()) return ToGrpcStatus(valid);
  if (vm_id.empty()) {  // a generated id: nothing to retry against
    absl::StatusOr<std::string> made = make();
    if (!made.ok()) return ToGrpcStatus(made.status());
    return ActOnVm(*manager_, *made, response, [](VirtualMachine&) { return absl::OkStatus(); });
  }
  if (absl::Status valid = VmManager::ValidateVmId(vm_id); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<IdempotentCreates::Verdict> verdict = creates_.Begin(vm_id, request);
  if (!verdict.ok()) return ToGrpcStatus(verdict.status());
  if (*verdict == IdempotentCreates::Verdict::kMake) {
    absl::StatusOr<std::string> made = make();
    creates_.Finish(vm_id, made.ok());
    if (!made.ok()) return ToGrpcStatus(made.status());
  }
  return ActOnVm(*manager_, vm_id, response, [](VirtualMachine&) { return absl::OkStatus(); });
}

grpc::Status VmmServiceImpl::CreateVm(grpc::ServerContext*, const vmm::v1::CreateVmRequest* request,
                                      ApiVm* response) {
  const CreateVmParams params = CreateParams(*request);
  auto validate = [&] { return manager_->ValidateCreate(params); };
  return Idempotently(request->vm_id(), *request, response, validate, [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Create(params);
    if (!vm.ok()) return vm.status();
    return (*vm)->id();
  });
}

grpc::Status VmmServiceImpl::RunVm(grpc::ServerContext*, const vmm::v1::RunVmRequest* request,
                                   ApiVm* response) {
  const std::string& vm_id = request->create().vm_id();
  if (!request->boot().vm_id().empty() && request->boot().vm_id() != vm_id) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "boot.vm_id \"", request->boot().vm_id().substr(0, VmManager::kMaxVmIdLength),
        "\" differs from create.vm_id; leave it empty")));
  }
  const CreateVmParams create = CreateParams(request->create());
  ConfigureBootParams boot = BootParams(request->boot());
  auto validate = [&]() -> absl::Status {
    if (absl::Status status = manager_->ValidateCreate(create); !status.ok()) return AtStep("create", status);
    boot.vm_id = vm_id.empty() ? "generated" : vm_id;  // checked with the id it will have
    if (absl::Status status = VmManager::ValidateConfigureBootParams(boot); !status.ok()) {
      return AtStep("boot", status);
    }
    return absl::OkStatus();
  };
  return Idempotently(vm_id, *request, response, validate, [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Create(create);
    if (!vm.ok()) return AtStep("create", vm.status());
    const std::string id = (*vm)->id();
    boot.vm_id = id;
    absl::Status status = manager_->ConfigureBoot(boot).status();
    if (!status.ok()) {
      status = AtStep("boot", status);
    } else if (request->start()) {
      status = (*vm)->Start(manager_->options().worker_timeout);
      if (!status.ok()) status = AtStep("start", status);
    }
    if (!status.ok()) {
      // Nothing is left behind: the VM, its memory, fds and threads go with it.
      if (absl::Status deleted = manager_->Delete(id); !deleted.ok()) {
        LOG(WARNING) << "RunVm: deleting " << id << " after a failed step: " << deleted;
      }
      return status;
    }
    return id;
  });
}

grpc::Status VmmServiceImpl::GetHostInfo(grpc::ServerContext*, const vmm::v1::GetHostInfoRequest*,
                                         vmm::v1::HostInfo* response) {
  DescribeHost(*manager_, response);
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::ConfigureBoot(grpc::ServerContext*,
                                           const vmm::v1::ConfigureBootRequest* request,
                                           vmm::v1::BootInfo* response) {
  absl::StatusOr<BootInfo> info = manager_->ConfigureBoot(BootParams(*request));
  if (!info.ok()) return ToGrpcStatus(info.status());
  ToProto(*info, response);
  response->set_kernel_path(request->kernel_path());
  response->set_cmdline(request->cmdline());
  if (auto vm = manager_->Get(request->vm_id()); vm.ok()) {
    AddVmBootDetails((*vm)->Status(), response);
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

grpc::Status VmmServiceImpl::ListVms(grpc::ServerContext*, const vmm::v1::ListVmsRequest* request,
                                     vmm::v1::ListVmsResponse* response) {
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(request->label_selector());
  if (!selector.ok()) return ToGrpcStatus(selector.status());
  for (const auto& vm : manager_->List()) {
    VmStatus status = vm->Status();
    if (selector->Matches(status.labels)) ToProto(status, response->add_vms());
  }
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

grpc::Status VmmServiceImpl::SnapshotVm(grpc::ServerContext*,
                                        const vmm::v1::SnapshotVmRequest* request,
                                        vmm::v1::SnapshotInfo* response) {
  absl::StatusOr<SnapshotResult> result =
      manager_->Snapshot(SnapshotParams{request->vm_id(), request->snapshot_dir()});
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_vm_id(request->vm_id());
  response->set_snapshot_dir(result->snapshot_dir);
  for (const SnapshotResult::File& file : result->files) {
    vmm::v1::SnapshotFile* out = response->add_files();
    out->set_path(file.path);
    out->set_size_bytes(file.size);
    out->set_allocated_bytes(file.allocated);
  }
  response->set_duration_micros(absl::ToInt64Microseconds(result->duration));
  response->set_format_version(result->format_version);
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::RestoreVm(grpc::ServerContext*,
                                       const vmm::v1::RestoreVmRequest* request,
                                       ApiVm* response) {
  RestoreParams params;
  params.vm_id = request->vm_id();
  params.snapshot_dir = request->snapshot_dir();
  params.resume = request->resume();
  params.copy_memory = request->copy_memory();
  for (int i = 0; i < request->drive_overrides_size(); ++i) {
    const vmm::v1::DriveOverride& drive = request->drive_overrides(i);
    if (!params.drive_paths.emplace(drive.drive_id(), drive.path()).second) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "drive_overrides[", i, "].drive_id: \"", drive.drive_id(), "\" is overridden twice")));
    }
  }
  for (int i = 0; i < request->network_overrides_size(); ++i) {
    const vmm::v1::NetworkInterfaceOverride& interface = request->network_overrides(i);
    if (!params.tap_names.emplace(interface.iface_id(), interface.host_dev_name()).second) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "network_overrides[", i, "].iface_id: \"", interface.iface_id(), "\" is overridden twice")));
    }
  }
  if (request->has_vsock_override()) {
    if (!request->vsock_override().uds_path().empty()) {
      params.vsock_uds_path = request->vsock_override().uds_path();
    }
    if (request->vsock_override().guest_cid() != 0) {
      params.vsock_guest_cid = request->vsock_override().guest_cid();
    }
  }
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Restore(params);
  if (!vm.ok()) return ToGrpcStatus(vm.status());
  ToProto((*vm)->Status(), response);
  return grpc::Status::OK;
}

grpc::Status VmmServiceImpl::DeleteVm(grpc::ServerContext*, const vmm::v1::DeleteVmRequest* request,
                                      vmm::v1::DeleteVmResponse* response) {
  absl::Status status = manager_->Delete(request->vm_id());
  if (!status.ok()) return ToGrpcStatus(status);
  creates_.Forget(request->vm_id());
  response->set_vm_id(request->vm_id());
  return grpc::Status::OK;
}

namespace {

// StreamConsole: the console from offset 0 (or the oldest byte still held), in chunks; with
// `follow`, then whatever comes, until the console closes (the VM stopped or was deleted).
class ConsoleStream final : public FollowStream<vmm::v1::ConsoleChunk> {
 public:
  ConsoleStream(std::shared_ptr<VirtualMachine> vm, bool follow)
      : vm_(std::move(vm)), follow_(follow) {}

 protected:
  Step Next(vmm::v1::ConsoleChunk* message, grpc::Status* status) override {
    ConsoleBuffer::Chunk chunk = vm_->console().Read(offset_, kConsoleChunkBytes);
    if (!chunk.data.empty()) {
      message->set_offset(chunk.offset);
      offset_ = chunk.offset + chunk.data.size();
      message->set_data(std::move(chunk.data));
      return Step::kWrite;
    }
    offset_ = chunk.offset;
    if (!follow_ || chunk.closed) {
      *status = grpc::Status::OK;
      return Step::kFinish;
    }
    return Step::kWait;
  }
  uint64_t Wait(absl::AnyInvocable<void() &&> wake) override {
    return vm_->console().WakeWhenReadable(offset_, std::move(wake));
  }
  void CancelWait(uint64_t id) override { vm_->console().CancelWake(id); }

 private:
  const std::shared_ptr<VirtualMachine> vm_;
  const bool follow_;
  uint64_t offset_ = 0;  // Next and Wait only, which never overlap
};

// WatchVm: every event still held, then each new one, until STOPPED or the VM is deleted.
class EventStream final : public FollowStream<vmm::v1::VmEvent> {
 public:
  explicit EventStream(std::shared_ptr<VirtualMachine> vm) : vm_(std::move(vm)) {}

 protected:
  Step Next(vmm::v1::VmEvent* message, grpc::Status* status) override {
    if (stopped_) {  // a stopped VM has nothing more to say
      *status = grpc::Status::OK;
      return Step::kFinish;
    }
    if (pending_.empty()) {
      EventLog::Batch batch = vm_->events().Read(next_);
      for (VmEventRecord& event : batch.events) pending_.push_back(std::move(event));
      if (pending_.empty()) {
        if (batch.closed) {
          *status = grpc::Status::OK;
          return Step::kFinish;
        }
        return Step::kWait;
      }
    }
    const VmEventRecord event = std::move(pending_.front());
    pending_.pop_front();
    ToProto(vm_->id(), event, message);
    next_ = event.sequence + 1;
    stopped_ = event.state == VmState::kStopped;
    return Step::kWrite;
  }
  uint64_t Wait(absl::AnyInvocable<void() &&> wake) override {
    return vm_->events().WakeWhenReadable(next_, std::move(wake));
  }
  void CancelWait(uint64_t id) override { vm_->events().CancelWake(id); }

 private:
  const std::shared_ptr<VirtualMachine> vm_;
  std::deque<VmEventRecord> pending_;  // read, not yet sent
  uint64_t next_ = 0;
  bool stopped_ = false;
};

// WatchVms: one event per VM that exists, then the host's events as they come, those of VMs
// whose labels match; never finishes (the client cancels).
class HostEventStream final : public FollowStream<vmm::v1::VmEvent> {
 public:
  HostEventStream(VmManager* manager, LabelSelector selector)
      : log_(manager->host_events()), selector_(std::move(selector)) {
    // Whatever happens after this point is followed; what exists now is listed. A change in
    // between may be seen twice, never missed.
    next_ = log_.next_sequence();
    for (const auto& vm : manager->List()) {
      const VmStatus status = vm->Status();
      VmEventRecord existing;
      existing.vm_id = status.id;
      existing.labels = status.labels;
      existing.state = status.state;
      existing.reason = "existing";
      existing.time = absl::Now();
      existing.sequence = next_;
      if (selector_.Matches(existing.labels)) pending_.push_back(std::move(existing));
    }
  }

 protected:
  Step Next(vmm::v1::VmEvent* message, grpc::Status*) override {
    while (pending_.empty()) {
      EventLog::Batch batch = log_.Read(next_);
      if (batch.events.empty()) return Step::kWait;
      for (VmEventRecord& event : batch.events) {
        next_ = event.sequence + 1;
        if (selector_.Matches(event.labels)) pending_.push_back(std::move(event));
      }
    }
    const VmEventRecord event = std::move(pending_.front());
    pending_.pop_front();
    ToProto(event.vm_id, event, message);
    message->set_deleted(event.deleted);
    message->mutable_labels()->insert(event.labels.begin(), event.labels.end());
    return Step::kWrite;
  }
  uint64_t Wait(absl::AnyInvocable<void() &&> wake) override {
    return log_.WakeWhenReadable(next_, std::move(wake));
  }
  void CancelWait(uint64_t id) override { log_.CancelWake(id); }

 private:
  EventLog& log_;
  const LabelSelector selector_;
  std::deque<VmEventRecord> pending_;  // read, not yet sent
  uint64_t next_ = 0;
};

}  // namespace

grpc::ServerWriteReactor<vmm::v1::VmEvent>* VmmServiceImpl::WatchVms(
    grpc::CallbackServerContext*, const vmm::v1::WatchVmsRequest* request) {
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(request->label_selector());
  if (!selector.ok()) return FollowStream<vmm::v1::VmEvent>::Refuse(ToGrpcStatus(selector.status()));
  return FollowStream<vmm::v1::VmEvent>::Start<HostEventStream>(&pump_, manager_, std::move(*selector));
}

grpc::ServerWriteReactor<vmm::v1::ConsoleChunk>* VmmServiceImpl::StreamConsole(
    grpc::CallbackServerContext*, const vmm::v1::StreamConsoleRequest* request) {
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Get(request->vm_id());
  if (!vm.ok()) return FollowStream<vmm::v1::ConsoleChunk>::Refuse(ToGrpcStatus(vm.status()));
  return FollowStream<vmm::v1::ConsoleChunk>::Start<ConsoleStream>(&pump_, std::move(*vm),
                                                                   request->follow());
}

grpc::ServerWriteReactor<vmm::v1::VmEvent>* VmmServiceImpl::WatchVm(
    grpc::CallbackServerContext*, const vmm::v1::WatchVmRequest* request) {
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = manager_->Get(request->vm_id());
  if (!vm.ok()) return FollowStream<vmm::v1::VmEvent>::Refuse(ToGrpcStatus(vm.status()));
  return FollowStream<vmm::v1::VmEvent>::Start<EventStream>(&pump_, std::move(*vm));
}

}  // namespace vmmd
