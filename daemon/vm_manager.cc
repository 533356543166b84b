#include "daemon/vm_manager.h"

#include <unistd.h>

#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "daemon/drive_file.h"
#include "daemon/image_file.h"
#include "devices/virtio/net/mac_address.h"
#include "devices/virtio/net/tap.h"
#include "daemon/vsock_path.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "glog/logging.h"

namespace vmmd {
namespace {

static_assert(VmManager::kMaxCmdlineLength == layout::kCmdlineMaxSize - 1,
              "the up-front cmdline limit is what fits at layout::kCmdlineStart");

absl::Status CheckLength(absl::string_view field, absl::string_view value, size_t limit) {
  if (value.size() <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s is %d bytes; the limit is %d bytes", field, value.size(), limit));
}

absl::Status CheckPath(absl::string_view field, absl::string_view path) {
  RETURN_IF_ERROR(CheckLength(field, path, VmManager::kMaxPathLength));
  // The path goes to the kernel as a C string: a NUL would silently name another file.
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, " contains a NUL byte"));
  }
  return absl::OkStatus();
}

// For lookups: the id of an existing VM, without echoing a megabyte back in NOT_FOUND.
absl::Status ValidateLookupId(const std::string& vm_id) {
  if (vm_id.empty()) return absl::InvalidArgumentError("vm_id is required");
  if (vm_id.size() > VmManager::kMaxVmIdLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vm_id must be 1 to %d characters; got %d", VmManager::kMaxVmIdLength, vm_id.size()));
  }
  return absl::OkStatus();
}

}  // namespace

VmManager::VmManager(std::unique_ptr<KvmSystem> kvm, VmManagerOptions options)
    : kvm_(std::move(kvm)), options_(std::move(options)) {
  if (kvm_) {
    absl::StatusOr<std::vector<kvm_cpuid_entry2>> cpuid = kvm_->GetSupportedCpuid();
    if (cpuid.ok()) {
      supported_cpuid_ = std::move(*cpuid);
    } else {
      LOG(ERROR) << "KVM_GET_SUPPORTED_CPUID: " << cpuid.status();
    }
  }
  // A random start keeps generated ids from repeating across daemon restarts.
  MutexLock lock(&mutex_);
  next_generated_ = std::random_device()();
}

VmManager::~VmManager() { ShutdownAll(); }

absl::Status VmManager::ValidateVmId(const std::string& vm_id) {
  if (vm_id.empty() || vm_id.size() > kMaxVmIdLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vm_id must be 1 to %d characters; got %d", kMaxVmIdLength, vm_id.size()));
  }
  for (char c : vm_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "vm_id may hold only [A-Za-z0-9_-]; byte 0x%02x is not allowed",
          static_cast<unsigned char>(c)));
    }
  }
  return absl::OkStatus();
}

namespace {

// A device id the client chose (drive_id, iface_id): 1 to `max_length` of [A-Za-z0-9_-].
absl::Status CheckDeviceId(const std::string& field, const std::string& id, size_t max_length) {
  if (id.empty() || id.size() > max_length) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s must be 1 to %d characters; got %d", field, max_length, id.size()));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s may hold only [A-Za-z0-9_-]; byte 0x%02x is not allowed", field,
          static_cast<unsigned char>(c)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<NetworkInterfaceConfig>> VmManager::ValidateNetworkInterfaces(
    const std::vector<NetworkInterfaceParams>& interfaces, const std::string& vm_id) {
  if (interfaces.size() > kMaxNetworkInterfaces) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "network_interfaces: at most %d per VM; got %d", kMaxNetworkInterfaces, interfaces.size()));
  }
  std::vector<NetworkInterfaceConfig> configs;
  for (size_t i = 0; i < interfaces.size(); ++i) {
    const NetworkInterfaceParams& interface = interfaces[i];
    const std::string prefix = absl::StrCat("network_interfaces[", i, "]");
    RETURN_IF_ERROR(CheckDeviceId(prefix + ".iface_id", interface.id, kMaxIfaceIdLength));
    if (absl::Status name = virtio::Tap::CheckName(interface.host_dev_name); !name.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ".host_dev_name: ", name.message()));
    }
    for (size_t j = 0; j < i; ++j) {
      if (interfaces[j].id == interface.id) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.iface_id: \"%s\" is also network_interfaces[%d].iface_id; ids must be unique",
            prefix, interface.id, j));
      }
      if (interfaces[j].host_dev_name == interface.host_dev_name) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.host_dev_name: \"%s\" is also network_interfaces[%d].host_dev_name; a tap "
            "serves one interface",
            prefix, interface.host_dev_name, j));
      }
    }
    NetworkInterfaceConfig config{interface.id, interface.host_dev_name, {}};
    if (interface.guest_mac.empty()) {
      config.mac = virtio::GeneratedMacAddress(vm_id, interface.id);
    } else {
      ASSIGN_OR_RETURN(config.mac, virtio::ParseMacAddress(interface.guest_mac, prefix + ".guest_mac"));
    }
    configs.push_back(std::move(config));
  }
  return configs;
}

absl::Status VmManager::ValidateVsock(const VsockConfig& vsock) {
  // virtio 1.2 5.10.4: 0, 1 and 2 (the host) are reserved, and 0xffffffff means any.
  if (vsock.guest_cid < 3 || vsock.guest_cid == 0xffffffffu) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vsock.guest_cid must be 3 to 4294967294 (0-2 are reserved, 0xffffffff means any); got %d",
        vsock.guest_cid));
  }
  return CheckVsockPathSyntax(vsock.uds_path, "vsock.uds_path");
}

absl::Status VmManager::ValidateDrives(const std::vector<DriveConfig>& drives) {
  if (drives.size() > kMaxDrives) {
    return absl::InvalidArgumentError(
        absl::StrFormat("drives: at most %d per VM; got %d", kMaxDrives, drives.size()));
  }
  int roots = 0;
  for (size_t i = 0; i < drives.size(); ++i) {
    const DriveConfig& drive = drives[i];
    const std::string field = absl::StrCat("drives[", i, "].drive_id");
    RETURN_IF_ERROR(CheckDeviceId(field, drive.id, kMaxDriveIdLength));
    for (size_t j = 0; j < i; ++j) {
      if (drives[j].id == drive.id) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: \"%s\" is also drives[%d].drive_id; ids must be unique", field, drive.id, j));
      }
    }
    RETURN_IF_ERROR(CheckPath(absl::StrCat("drives[", i, "].path"), drive.path));
    if (drive.root && ++roots > 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "drives[%d].is_root_device: at most one drive is the root device", i));
    }
  }
  return absl::OkStatus();
}

absl::Status VmManager::ValidateConfigureBootParams(const ConfigureBootParams& params) {
  RETURN_IF_ERROR(ValidateLookupId(params.vm_id));
  RETURN_IF_ERROR(CheckPath("kernel_path", params.kernel_path));
  RETURN_IF_ERROR(CheckPath("initrd_path", params.initrd_path));
  RETURN_IF_ERROR(CheckLength("cmdline", params.cmdline, kMaxCmdlineLength));
  RETURN_IF_ERROR(CheckLength("boot_protocol", params.boot_protocol, kMaxBootProtocolLength));
  RETURN_IF_ERROR(ParseBootProtocol(params.boot_protocol).status());
  RETURN_IF_ERROR(CheckLength("acpi", params.acpi, kMaxBootProtocolLength));
  if (params.acpi != "" && params.acpi != "on" && params.acpi != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("acpi \"", params.acpi, "\" is not one of on, off"));
  }
  return absl::OkStatus();
}

std::string VmManager::GenerateIdLocked() {
  while (true) {
    std::string id = absl::StrFormat("vm-%08x", static_cast<uint32_t>(next_generated_++ * 2654435761u));
    if (vms_.count(id) == 0) return id;
  }
}

absl::Status VmManager::ValidateCreate(const CreateVmParams& params) const {
  if (!params.vm_id.empty()) RETURN_IF_ERROR(ValidateVmId(params.vm_id));
  RETURN_IF_ERROR(ValidateLabels(params.labels));
  const uint32_t max_vcpus = std::min<uint32_t>(options_.max_vcpus, kMaxMpTableVcpus);
  if (params.vcpu_count == 0 || params.vcpu_count > max_vcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vcpu_count must be 1 to %d; got %d", max_vcpus, params.vcpu_count));
  }
  if (params.memory_mib < kMinMemoryMib || params.memory_mib > options_.max_memory_mib) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory_mib must be %d to %d; got %d", kMinMemoryMib, options_.max_memory_mib,
        params.memory_mib));
  }
  RETURN_IF_ERROR(ValidateDrives(params.drives));
  RETURN_IF_ERROR(ValidateNetworkInterfaces(params.network_interfaces, params.vm_id).status());
  if (params.vsock) RETURN_IF_ERROR(ValidateVsock(*params.vsock));
  const size_t device_count = params.drives.size() + (params.entropy_device ? 1 : 0) +
                              params.network_interfaces.size() + (params.vsock ? 1 : 0);
  if (device_count > kMaxVirtioDevices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "drives, entropy_device, network_interfaces and vsock: at most %d devices per VM (one "
        "IRQ line each); got %d",
        kMaxVirtioDevices, device_count));
  }
  return absl::OkStatus();
}

absl::StatusOr<VmManager::PreparedVm> VmManager::Prepare(const CreateVmParams& params) {
  RETURN_IF_ERROR(ValidateCreate(params));
  ASSIGN_OR_RETURN(std::vector<NetworkInterfaceConfig> interfaces,
                   ValidateNetworkInterfaces(params.network_interfaces, params.vm_id));
  if (!kvm_) return absl::UnavailableError("KVM is not available on this host (/dev/kvm)");
  DeviceBackends backends;
  for (size_t i = 0; i < params.drives.size(); ++i) {
    ASSIGN_OR_RETURN(UniqueFd image,
                     OpenDriveImage(params.drives[i].path, options_.image_roots,
                                    params.drives[i].read_only, absl::StrCat("drives[", i, "].path")));
    backends.drive_images.push_back(std::move(image));
  }
  for (size_t i = 0; i < params.network_interfaces.size(); ++i) {
    absl::StatusOr<virtio::Tap> tap = virtio::Tap::Open(params.network_interfaces[i].host_dev_name);
    if (!tap.ok()) {
      // EPERM without CAP_NET_ADMIN, EBUSY for a tap in use: the field says which interface.
      return absl::Status(tap.status().code(), absl::StrCat("network_interfaces[", i,
                                                            "].host_dev_name: ", tap.status().message()));
    }
    backends.taps.push_back(std::make_shared<virtio::Tap>(std::move(*tap)));
  }
  if (params.vsock) {
    RETURN_IF_ERROR(CheckVsockPathUnderRoot(params.vsock->uds_path, options_.vsock_root, "vsock.uds_path"));
    // Binds uds_path now, so that a path in use is the client's error before anything is
    // built; the device unlinks it when the VM goes.
    absl::StatusOr<std::unique_ptr<virtio::VsockDevice>> vsock =
        virtio::VsockDevice::Create(params.vsock->guest_cid, params.vsock->uds_path);
    if (!vsock.ok()) {
      return absl::Status(vsock.status().code(), absl::StrCat("vsock.uds_path: ", vsock.status().message()));
    }
    backends.vsock = std::move(*vsock);
  }

  std::string id;
  {
    MutexLock lock(&mutex_);
    id = params.vm_id.empty() ? GenerateIdLocked() : params.vm_id;
    if (vms_.count(id) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("vm_id ", id, " already exists"));
    }
    if (reserved_vms_ >= options_.max_vms) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%d VMs exist; the limit is %d (--max_vms): delete one first", reserved_vms_,
          options_.max_vms));
    }
    if (options_.max_total_memory_mib != 0 &&
        params.memory_mib > options_.max_total_memory_mib - std::min(reserved_memory_mib_,
                                                                      options_.max_total_memory_mib)) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "memory_mib %d would bring the memory of all VMs to %d MiB; the limit is %d MiB "
          "(--max_total_memory_mib), and %d MiB are in use",
          params.memory_mib, reserved_memory_mib_ + params.memory_mib,
          options_.max_total_memory_mib, reserved_memory_mib_));
    }
    vms_.emplace(id, nullptr);
    ++reserved_vms_;
    reserved_memory_mib_ += params.memory_mib;
  }
  VmConfig config;
  config.id = id;
  config.vcpu_count = params.vcpu_count;
  config.memory_mib = params.memory_mib;
  config.coalesce_serial_output = options_.coalesce_serial_output;
  config.virtio_ring_features = options_.virtio_ring_features;
  config.virtio_net_offloads = options_.virtio_net_offloads;
  config.transparent_huge_pages = options_.transparent_huge_pages;
  config.drives = params.drives;
  config.entropy_device = params.entropy_device;
  for (size_t i = 0; i < interfaces.size(); ++i) {
    // A generated id is known only now.
    if (params.network_interfaces[i].guest_mac.empty()) {
      interfaces[i].mac = virtio::GeneratedMacAddress(id, interfaces[i].id);
    }
  }
  config.network_interfaces = std::move(interfaces);
  config.vsock = params.vsock;
  config.labels = params.labels;
  if (!options_.console_log_dir.empty()) {
    config.console_log_path = absl::StrCat(options_.console_log_dir, "/", id, ".log");
    config.console_log_limits = options_.console_log_limits;
  }
  return PreparedVm{std::move(config), std::move(backends)};
}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VmManager::Install(
    const VmConfig& config, absl::StatusOr<std::shared_ptr<VirtualMachine>> vm) {
  if (!vm.ok()) {
    {
      MutexLock lock(&mutex_);
      vms_.erase(config.id);
    }
    // VirtualMachine::Create and Restore release what they built.
    ReleaseReservation(config.memory_mib);
    return vm.status();
  }
  // The host's log gets its state now (CREATED, or what a restore left it in) and every
  // change from here on.
  VmEventRecord created;
  created.vm_id = config.id;
  created.labels = config.labels;
  const VmStatus status = (*vm)->Status();
  created.state = status.state;
  created.reason = status.state == VmState::kCreated ? "created" : "restored";
  host_events_.Append(created);
  (*vm)->ObserveStates([this, id = config.id, labels = config.labels](VmState state,
                                                                      const std::string& reason) {
    VmEventRecord record;
    record.vm_id = id;
    record.labels = labels;
    record.state = state;
    record.reason = reason;
    host_events_.Append(std::move(record));
  });
  MutexLock lock(&mutex_);
  vms_[config.id] = *vm;
  return vm;
}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VmManager::Create(const CreateVmParams& params) {
  ASSIGN_OR_RETURN(PreparedVm prepared, Prepare(params));
  const VmConfig config = prepared.config;
  return Install(config, VirtualMachine::Create(*kvm_, supported_cpuid_, std::move(prepared.config),
                                                std::move(prepared.backends),
                                                options_.worker_timeout));
}

VmManager::Usage VmManager::usage() const {
  MutexLock lock(&mutex_);
  return Usage{reserved_vms_, reserved_memory_mib_};
}

void VmManager::ReleaseReservation(uint64_t memory_mib) {
  MutexLock lock(&mutex_);
  --reserved_vms_;
  reserved_memory_mib_ -= memory_mib;
}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VmManager::Get(const std::string& vm_id) const {
  RETURN_IF_ERROR(ValidateLookupId(vm_id));
  MutexLock lock(&mutex_);
  auto it = vms_.find(vm_id);
  if (it == vms_.end() || it->second == nullptr) {
    return absl::NotFoundError(absl::StrCat("vm_id ", vm_id, " not found"));
  }
  return it->second;
}

std::vector<std::shared_ptr<VirtualMachine>> VmManager::List() const {
  MutexLock lock(&mutex_);
  std::vector<std::shared_ptr<VirtualMachine>> vms;
  for (const auto& [id, vm] : vms_) {
    if (vm) vms.push_back(vm);
  }
  return vms;
}

absl::StatusOr<BootInfo> VmManager::ConfigureBoot(const ConfigureBootParams& params) {
  RETURN_IF_ERROR(ValidateConfigureBootParams(params));
  ASSIGN_OR_RETURN(std::shared_ptr<VirtualMachine> vm, Get(params.vm_id));
  ASSIGN_OR_RETURN(BootProtocolChoice protocol, ParseBootProtocol(params.boot_protocol));
  ASSIGN_OR_RETURN(ImageFile kernel, ImageFile::Open(params.kernel_path, options_.image_roots,
                                                     options_.max_kernel_bytes, "kernel_path"));
  BootSpec spec;
  if (!params.initrd_path.empty()) {
    ASSIGN_OR_RETURN(ImageFile initrd, ImageFile::Open(params.initrd_path, options_.image_roots,
                                                       options_.max_initrd_bytes, "initrd_path"));
    if (initrd.size() > vm->Status().memory_mib << 20) {
      return absl::OutOfRangeError(absl::StrFormat(
          "initrd_path: %s is %d bytes, more than the VM's memory", params.initrd_path,
          initrd.size()));
    }
    // Read on the VM's worker, from the file straight into guest RAM: nothing of it is held
    // in the heap, however many ConfigureBoot calls run at once.
    spec.initrd = std::make_unique<ImageFile>(std::move(initrd));
  }
  spec.kernel = std::make_unique<ImageFile>(std::move(kernel));
  spec.kernel_path = params.kernel_path;
  spec.cmdline = params.cmdline;
  spec.protocol = protocol;
  spec.acpi = params.acpi != "off";
  return vm->ConfigureBoot(std::move(spec), options_.worker_timeout);
}

absl::Status VmManager::Delete(const std::string& vm_id) {
  RETURN_IF_ERROR(ValidateLookupId(vm_id));
  std::shared_ptr<VirtualMachine> vm;
  {
    MutexLock lock(&mutex_);
    auto it = vms_.find(vm_id);
    if (it == vms_.end() || it->second == nullptr) {
      return absl::NotFoundError(absl::StrCat("vm_id ", vm_id, " not found"));
    }
    vm = std::move(it->second);
    vms_.erase(it);
  }
  vm->Shutdown();
  vm->ObserveStates(nullptr);  // a stream may hold it a little longer; the log is done with it
  // Joined and unmapped: its memory and its place count for new VMs again.
  const VmStatus status = vm->Status();
  ReleaseReservation(status.memory_mib);
  VmEventRecord deleted;
  deleted.vm_id = vm_id;
  deleted.labels = status.labels;
  deleted.state = status.state;
  deleted.reason = "deleted";
  deleted.deleted = true;
  host_events_.Append(std::move(deleted));
  LOG(INFO) << "vm " << vm_id << ": deleted";
  return absl::OkStatus();
}

void VmManager::ShutdownAll() {
  std::map<std::string, std::shared_ptr<VirtualMachine>> vms;
  {
    MutexLock lock(&mutex_);
    vms.swap(vms_);
  }
  for (auto& [id, vm] : vms) {
    if (!vm) continue;  // still being created: Create keeps or gives back its reservation
    vm->Shutdown();
    vm->ObserveStates(nullptr);
    ReleaseReservation(vm->Status().memory_mib);
  }
}

}  // namespace vmmd
