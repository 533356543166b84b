#include "daemon/proto_conversion.h"

#include "absl/time/time.h"
#include "devices/virtio/net/mac_address.h"

namespace vmmd {

vmm::v1::VmState ToProto(VmState state) {
  switch (state) {
    case VmState::kCreated: return vmm::v1::VM_STATE_CREATED;
    case VmState::kConfigured: return vmm::v1::VM_STATE_CONFIGURED;
    case VmState::kRunning: return vmm::v1::VM_STATE_RUNNING;
    case VmState::kPaused: return vmm::v1::VM_STATE_PAUSED;
    case VmState::kStopped: return vmm::v1::VM_STATE_STOPPED;
  }
  return vmm::v1::VM_STATE_UNSPECIFIED;
}

void ToProto(const BootInfo& info, vmm::v1::BootInfo* proto) {
  proto->set_boot_protocol(BootProtocolName(info.protocol));
  proto->set_start_info_address(info.start_info.value());
  proto->set_entry_point(info.entry_point.value());
  proto->set_zero_page_address(info.zero_page.value());
  proto->set_cmdline_address(info.cmdline.value());
  proto->set_cmdline_size(info.cmdline_size);
  proto->set_initrd_address(info.initrd_size != 0 ? info.initrd.value() : 0);
  proto->set_initrd_size(info.initrd_size);
  proto->set_mp_table_address(info.mp_table.value());
  proto->set_mp_table_size(info.mp_table_size);
  proto->set_page_table_address(info.page_table_root.value());
  proto->set_identity_mapped_bytes(info.identity_mapped_bytes);
  for (const E820Entry& entry : info.e820) {
    vmm::v1::E820Entry* out = proto->add_e820();
    out->set_address(entry.addr);
    out->set_size(entry.size);
    out->set_type(entry.type);
  }
  proto->set_acpi_rsdp_address(info.acpi_rsdp.value());
  for (const acpi::TableInfo& table : info.acpi_tables) {
    vmm::v1::AcpiTable* out = proto->add_acpi_tables();
    out->set_signature(table.signature);
    out->set_address(table.address.value());
    out->set_length(table.length);
  }
}

void ToProto(const VmStatus& status, vmm::v1::Vm* proto) {
  proto->set_vm_id(status.id);
  proto->set_state(ToProto(status.state));
  proto->set_vcpu_count(status.vcpu_count);
  proto->set_memory_mib(status.memory_mib);
  proto->set_exit_reason(status.exit_reason);
  proto->set_unhandled_io_count(status.unhandled_io);
  proto->set_unhandled_mmio_count(status.unhandled_mmio);
  proto->set_console_bytes(status.console_bytes);
  for (size_t vcpu = 0; vcpu < status.vcpu_exits.size(); ++vcpu) {
    vmm::v1::VcpuCounters* out = proto->add_vcpus();
    out->set_index(vcpu);
    for (size_t kind = 0; kind < kVcpuExitKinds; ++kind) {
      (*out->mutable_exits())[kVcpuExitKindNames[kind]] = status.vcpu_exits[vcpu][kind];
    }
  }
  if (status.console_log) {
    const ConsoleLogStats& log = *status.console_log;
    vmm::v1::ConsoleLogStats* out = proto->mutable_console_log();
    out->set_path(log.path);
    out->set_written_bytes(log.written_bytes);
    out->set_rate_dropped_bytes(log.rate_dropped_bytes);
    out->set_backlog_dropped_bytes(log.backlog_dropped_bytes);
    out->set_lost_bytes(log.lost_bytes);
    out->set_write_errors(log.write_errors);
    out->set_rotations(log.rotations);
  }
  for (const DriveConfig& drive : status.drives) {
    vmm::v1::Drive* out = proto->add_drives();
    out->set_drive_id(drive.id);
    out->set_path(drive.path);
    out->set_read_only(drive.read_only);
    out->set_is_root_device(drive.root);
  }
  proto->set_entropy_device(status.entropy_device);
  for (const NetworkInterfaceConfig& interface : status.network_interfaces) {
    vmm::v1::NetworkInterface* out = proto->add_network_interfaces();
    out->set_iface_id(interface.id);
    out->set_host_dev_name(interface.host_dev_name);
    out->set_guest_mac(virtio::FormatMacAddress(interface.mac));
  }
  if (status.vsock) {
    proto->mutable_vsock()->set_guest_cid(status.vsock->guest_cid);
    proto->mutable_vsock()->set_uds_path(status.vsock->uds_path);
  }
  proto->mutable_labels()->insert(status.labels.begin(), status.labels.end());
  for (const DeviceStatus& device : status.devices) {
    vmm::v1::DeviceCounters* out = proto->add_devices();
    out->set_id(device.id);
    out->set_kind(device.kind);
    out->set_requests(device.device.requests);
    out->set_bytes_read(device.device.bytes_read);
    out->set_bytes_written(device.device.bytes_written);
    out->set_errors(device.device.errors);
    out->set_packets_received(device.device.packets_received);
    out->set_packets_sent(device.device.packets_sent);
    out->set_drops(device.device.drops);
    out->set_notifications(device.transport.notifications);
    out->set_interrupts(device.transport.interrupts);
    out->set_refused_accesses(device.transport.refused_accesses +
                              device.transport.refused_transitions);
    out->set_needs_reset(device.transport.needs_reset);
  }
  if (status.boot_info) {
    ToProto(*status.boot_info, proto->mutable_boot_info());
    AddVmBootDetails(status, proto->mutable_boot_info());
  }
}

void AddVmBootDetails(const VmStatus& status, vmm::v1::BootInfo* proto) {
  proto->set_kernel_path(status.kernel_path);
  proto->set_kernel_format(status.kernel_format);
  proto->set_cmdline(status.cmdline);
  proto->clear_devices();
  for (const DeviceStatus& device : status.devices) {
    vmm::v1::DeviceInfo* out = proto->add_devices();
    out->set_id(device.id);
    out->set_kind(device.kind);
    out->set_mmio_address(device.mmio_address);
    out->set_mmio_size(device.mmio_size);
    out->set_irq(device.irq);
  }
}

void ToProto(const std::string& vm_id, const VmEventRecord& event, vmm::v1::VmEvent* proto) {
  proto->set_vm_id(vm_id);
  proto->set_state(ToProto(event.state));
  proto->set_reason(event.reason);
  proto->set_timestamp_unix_nanos(absl::ToUnixNanos(event.time));
  proto->set_sequence(event.sequence);
}

}  // namespace vmmd
