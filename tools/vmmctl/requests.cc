#include "tools/vmmctl/requests.h"

namespace vmmctl {

vmm::v1::CreateVmRequest MakeCreateVmRequest(const Invocation& invocation) {
  vmm::v1::CreateVmRequest request;
  request.set_vm_id(invocation.vm_id);
  request.set_vcpu_count(invocation.vcpu_count);
  request.set_memory_mib(invocation.memory_mib);
  for (const DriveFlag& flag : invocation.drives) {
    vmm::v1::Drive* drive = request.add_drives();
    drive->set_drive_id(flag.drive_id);
    drive->set_path(flag.path);
    drive->set_read_only(flag.read_only);
    drive->set_is_root_device(flag.is_root_device);
  }
  request.set_entropy_device(invocation.entropy_device);
  if (invocation.has_vsock) {
    request.mutable_vsock()->set_guest_cid(invocation.vsock_cid);
    request.mutable_vsock()->set_uds_path(invocation.vsock_uds_path);
  }
  for (const NetFlag& flag : invocation.network_interfaces) {
    vmm::v1::NetworkInterface* interface = request.add_network_interfaces();
    interface->set_iface_id(flag.iface_id);
    interface->set_host_dev_name(flag.host_dev_name);
    interface->set_guest_mac(flag.guest_mac);
  }
  request.mutable_labels()->insert(invocation.labels.begin(), invocation.labels.end());
  return request;
}

vmm::v1::ConfigureBootRequest MakeConfigureBootRequest(const Invocation& invocation,
                                                       const std::string& vm_id) {
  vmm::v1::ConfigureBootRequest request;
  request.set_vm_id(vm_id);
  request.set_kernel_path(invocation.kernel_path);
  request.set_initrd_path(invocation.initrd_path);
  request.set_cmdline(invocation.cmdline);
  request.set_boot_protocol(invocation.boot_protocol);
  request.set_acpi(invocation.acpi);
  return request;
}

vmm::v1::RestoreVmRequest MakeRestoreVmRequest(const Invocation& invocation) {
  vmm::v1::RestoreVmRequest request;
  request.set_vm_id(invocation.vm_id);
  request.set_snapshot_dir(invocation.snapshot_dir);
  request.set_resume(invocation.resume);
  request.set_copy_memory(invocation.copy_memory);
  for (const auto& [drive_id, path] : invocation.drive_paths) {
    vmm::v1::DriveOverride* drive = request.add_drive_overrides();
    drive->set_drive_id(drive_id);
    drive->set_path(path);
  }
  for (const auto& [iface_id, tap] : invocation.taps) {
    vmm::v1::NetworkInterfaceOverride* interface = request.add_network_overrides();
    interface->set_iface_id(iface_id);
    interface->set_host_dev_name(tap);
  }
  if (!invocation.vsock_path_override.empty() || invocation.vsock_cid_override != 0) {
    request.mutable_vsock_override()->set_uds_path(invocation.vsock_path_override);
    request.mutable_vsock_override()->set_guest_cid(invocation.vsock_cid_override);
  }
  return request;
}

}  // namespace vmmctl
