// VmManager's snapshots: SnapshotVm and RestoreVm (issue 13).
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "boot/cpuid.h"
#include "daemon/snapshot_dir.h"
#include "daemon/vm_manager.h"
#include "daemon/vm_spec_proto.h"
#include "devices/virtio/net/mac_address.h"
#include "glog/logging.h"
#include "snapshot/cpuid_check.h"
#include "snapshot/state_file.h"

namespace vmmd {
namespace {

absl::StatusOr<SnapshotResult::File> Describe(const SnapshotDir& dir, absl::string_view name,
                                              const UniqueFd& file) {
  struct stat info;
  if (::fstat(file.get(), &info) != 0) return ErrnoToStatus(errno, "fstat");
  return SnapshotResult::File{absl::StrCat(dir.path(), "/", name),
                              static_cast<uint64_t>(info.st_size),
                              static_cast<uint64_t>(info.st_blocks) * 512};
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return ErrnoToStatus(errno, "write");
    data.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

// The state file's bytes, bounded before anything is read: a state file is at most the
// header and kMaxPayloadSize.
absl::StatusOr<std::string> ReadStateFile(const SnapshotDir& dir) {
  ASSIGN_OR_RETURN(UniqueFd file, dir.OpenFile(SnapshotDir::kStateFile));
  struct stat info;
  if (::fstat(file.get(), &info) != 0) return ErrnoToStatus(errno, "fstat");
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir.path(), "/state is not a regular file"));
  }
  const uint64_t limit = snapshot::kHeaderSize + snapshot::kMaxPayloadSize;
  if (static_cast<uint64_t>(info.st_size) > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s/state is %d bytes; a state file is at most %d", dir.path(), info.st_size, limit));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::pread(file.get(), bytes.data() + done, bytes.size() - done, done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoToStatus(errno, "read state file");
    if (got == 0) break;  // shrank meanwhile: the decoder finds it truncated
    done += static_cast<size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

// The snapshot's configuration as a CreateVm request, with `params`' overrides applied;
// INVALID_ARGUMENT for an override that names no device of the snapshot.
absl::StatusOr<CreateVmParams> RestoredCreateParams(const VmConfig& saved,
                                                    const RestoreParams& params) {
  CreateVmParams create;
  create.vm_id = params.vm_id;
  create.vcpu_count = saved.vcpu_count;
  create.memory_mib = saved.memory_mib;
  create.drives = saved.drives;
  create.entropy_device = saved.entropy_device;
  for (const NetworkInterfaceConfig& interface : saved.network_interfaces) {
    create.network_interfaces.push_back(NetworkInterfaceParams{
        interface.id, interface.host_dev_name, virtio::FormatMacAddress(interface.mac)});
  }
  create.vsock = saved.vsock;
  // (Not structured bindings: clang 14 cannot capture them in the lambdas below.)
  for (const auto& override_path : params.drive_paths) {
    const std::string& id = override_path.first;
    const std::string& path = override_path.second;
    auto drive = std::find_if(create.drives.begin(), create.drives.end(),
                              [&](const DriveConfig& d) { return d.id == id; });
    if (drive == create.drives.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("drive_overrides: \"", id, "\" is not a drive_id of the snapshot"));
    }
    drive->path = path;
  }
  for (const auto& override_tap : params.tap_names) {
    const std::string& id = override_tap.first;
    const std::string& tap = override_tap.second;
    auto interface = std::find_if(create.network_interfaces.begin(), create.network_interfaces.end(),
                                  [&](const NetworkInterfaceParams& i) { return i.id == id; });
    if (interface == create.network_interfaces.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("network_overrides: \"", id, "\" is not an iface_id of the snapshot"));
    }
    interface->host_dev_name = tap;
  }
  if (params.vsock_uds_path || params.vsock_guest_cid) {
    if (!create.vsock) {
      return absl::InvalidArgumentError("vsock_override: the snapshot's VM has no vsock device");
    }
    if (params.vsock_uds_path) create.vsock->uds_path = *params.vsock_uds_path;
    if (params.vsock_guest_cid) create.vsock->guest_cid = *params.vsock_guest_cid;
  }
  return create;
}

}  // namespace

absl::StatusOr<SnapshotResult> VmManager::Snapshot(const SnapshotParams& params) {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::shared_ptr<VirtualMachine> vm, Get(params.vm_id));
  if (params.snapshot_dir.size() > kMaxPathLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshot_dir is %d bytes; the limit is %d bytes", params.snapshot_dir.size(), kMaxPathLength));
  }
  ASSIGN_OR_RETURN(SnapshotDir dir, SnapshotDir::Open(params.snapshot_dir, options_.snapshot_root,
                                                      /*create=*/true, "snapshot_dir"));
  RETURN_IF_ERROR(dir.Lock(/*exclusive=*/true));
  if (!kvm_) return absl::UnavailableError("KVM is not available on this host (/dev/kvm)");
  absl::StatusOr<std::vector<uint32_t>> msrs = kvm_->GetMsrIndexList();
  if (!msrs.ok()) return absl::InternalError(absl::StrCat("KVM_GET_MSR_INDEX_LIST: ", msrs.status().message()));

  auto written = [&]() -> absl::StatusOr<SnapshotResult> {
    ASSIGN_OR_RETURN(UniqueFd memory, dir.CreateFile(SnapshotDir::kMemoryFile));
    ASSIGN_OR_RETURN(snapshot::v1::MachineState state,
                     vm->Snapshot(*msrs, memory.get(), options_.worker_timeout));
    state.mutable_memory()->set_name(SnapshotDir::kMemoryFile);
    state.mutable_memory()->set_size(state.spec().memory_mib() << 20);
    ASSIGN_OR_RETURN(UniqueFd state_file, dir.CreateFile(SnapshotDir::kStateFile));
    RETURN_IF_ERROR(WriteAll(state_file.get(), snapshot::EncodeStateFile(std::move(state))));
    // The memory file first: a state file in place always has its memory beside it.
    RETURN_IF_ERROR(dir.Commit(SnapshotDir::kMemoryFile, memory));
    RETURN_IF_ERROR(dir.Commit(SnapshotDir::kStateFile, state_file));
    SnapshotResult result;
    result.snapshot_dir = dir.path();
    result.format_version = snapshot::kFormatVersion;
    ASSIGN_OR_RETURN(SnapshotResult::File state_info, Describe(dir, SnapshotDir::kStateFile, state_file));
    ASSIGN_OR_RETURN(SnapshotResult::File memory_info, Describe(dir, SnapshotDir::kMemoryFile, memory));
    result.files = {state_info, memory_info};
    return result;
  }();
  if (!written.ok()) {
    dir.Discard(SnapshotDir::kMemoryFile);
    dir.Discard(SnapshotDir::kStateFile);
    return written.status();
  }
  written->duration = absl::Now() - start;
  LOG(INFO) << "vm " << params.vm_id << ": snapshot in " << dir.path() << ", "
            << written->files[1].allocated / 1024 << " KiB of memory on disk, "
            << absl::FormatDuration(written->duration);
  return written;
}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VmManager::Restore(const RestoreParams& params) {
  if (!params.vm_id.empty()) RETURN_IF_ERROR(ValidateVmId(params.vm_id));
  if (params.snapshot_dir.size() > kMaxPathLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshot_dir is %d bytes; the limit is %d bytes", params.snapshot_dir.size(), kMaxPathLength));
  }
  ASSIGN_OR_RETURN(SnapshotDir dir, SnapshotDir::Open(params.snapshot_dir, options_.snapshot_root,
                                                      /*create=*/false, "snapshot_dir"));
  RETURN_IF_ERROR(dir.Lock(/*exclusive=*/false));
  ASSIGN_OR_RETURN(std::string bytes, ReadStateFile(dir));
  absl::StatusOr<snapshot::v1::MachineState> state = snapshot::DecodeStateFile(bytes);
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat(dir.path(), "/state: ", state.status().message()));
  }
  absl::StatusOr<VmSpec> spec = VmSpecFromProto(state->spec());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(dir.path(), "/state: ", spec.status().message()));
  }
  if (static_cast<uint32_t>(state->vcpus_size()) != spec->config.vcpu_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s/state: it holds %d vCPUs; its spec says %d", dir.path(), state->vcpus_size(),
        spec->config.vcpu_count));
  }
  if (state->memory().name() != SnapshotDir::kMemoryFile ||
      state->memory().size() != spec->config.memory_mib << 20) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s/state: memory file \"%s\" of %d bytes; expected \"%s\" of %d (memory_mib %d)",
        dir.path(), state->memory().name(), state->memory().size(), SnapshotDir::kMemoryFile,
        spec->config.memory_mib << 20, spec->config.memory_mib));
  }
  // The guest was shown CPU features; this host must have every one of them.
  for (int i = 0; i < state->vcpus_size(); ++i) {
    const std::string& cpuid = state->vcpus(i).cpuid();
    std::vector<kvm_cpuid_entry2> saved(cpuid.size() / sizeof(kvm_cpuid_entry2));
    std::memcpy(saved.data(), cpuid.data(), saved.size() * sizeof(kvm_cpuid_entry2));
    RETURN_IF_ERROR(snapshot::CheckCpuidOffered(
        saved, NormalizeCpuid(supported_cpuid_, i, spec->config.vcpu_count),
        absl::StrCat(dir.path(), "/state: vcpus[", i, "]")));
  }
  ASSIGN_OR_RETURN(UniqueFd memory_file, dir.OpenFile(SnapshotDir::kMemoryFile));
  ASSIGN_OR_RETURN(CreateVmParams create, RestoredCreateParams(spec->config, params));
  ASSIGN_OR_RETURN(PreparedVm prepared, Prepare(create));
  // The machine is built as the snapshot's was, whatever this daemon's options are now.
  VmConfig& config = prepared.config;
  config.coalesce_serial_output = spec->config.coalesce_serial_output;
  config.virtio_ring_features = spec->config.virtio_ring_features;
  config.virtio_net_offloads = spec->config.virtio_net_offloads;
  config.transparent_huge_pages = false;  // the memory is the file's
  absl::StatusOr<GuestMemory> memory = GuestMemory::MapFile(
      memory_file.get(), config.memory_mib << 20,
      params.copy_memory ? GuestMemory::FileBacking::kCopy : GuestMemory::FileBacking::kPrivateMapping);
  if (!memory.ok()) {
    absl::Status status = memory.status();
    if (status.code() == absl::StatusCode::kInvalidArgument) {
      status = absl::InvalidArgumentError(absl::StrCat(dir.path(), "/memory: ", status.message()));
    }
    return Install(config, status);
  }
  VirtualMachine::RestoreSource source;
  source.state = std::move(*state);
  source.boot = std::move(spec->boot);
  source.memory = std::make_unique<GuestMemory>(std::move(*memory));
  source.resume = params.resume;
  const VmConfig installed = config;
  absl::StatusOr<std::shared_ptr<VirtualMachine>> vm = VirtualMachine::Restore(
      *kvm_, supported_cpuid_, std::move(prepared.config), std::move(prepared.backends),
      std::move(source), options_.worker_timeout);
  if (!vm.ok() && vm.status().code() == absl::StatusCode::kInvalidArgument) {
    vm = absl::InvalidArgumentError(absl::StrCat(dir.path(), "/state: ", vm.status().message()));
  }
  return Install(installed, std::move(vm));
}

}  // namespace vmmd
