#include "daemon/vm_spec_proto.h"

#include "absl/strings/str_cat.h"
#include "boot/e820.h"
#include "boot/kernel_loader.h"

namespace vmmd {
namespace {

snapshot::v1::BootRecord BootRecordToProto(const VmBoot& boot) {
  const BootInfo& info = boot.info;
  snapshot::v1::BootRecord proto;
  proto.set_protocol(BootProtocolName(info.protocol));
  proto.set_entry_point(info.entry_point.value());
  proto.set_zero_page(info.zero_page.value());
  proto.set_start_info(info.start_info.value());
  proto.set_cmdline_address(info.cmdline.value());
  proto.set_cmdline_size(info.cmdline_size);
  proto.set_initrd(info.initrd.value());
  proto.set_initrd_size(info.initrd_size);
  proto.set_mp_table(info.mp_table.value());
  proto.set_mp_table_size(info.mp_table_size);
  proto.set_page_table_root(info.page_table_root.value());
  proto.set_identity_mapped_bytes(info.identity_mapped_bytes);
  proto.set_stack_pointer(info.stack_pointer.value());
  for (const E820Entry& entry : info.e820) {
    snapshot::v1::BootRecord::E820Entry* out = proto.add_e820();
    out->set_address(entry.addr);
    out->set_size(entry.size);
    out->set_type(entry.type);
  }
  proto.set_kernel_path(boot.kernel_path);
  proto.set_kernel_format(boot.kernel_format);
  proto.set_cmdline(boot.cmdline);
  for (const acpi::TableInfo& table : info.acpi_tables) {
    snapshot::v1::BootRecord::AcpiTable* out = proto.add_acpi_tables();
    out->set_signature(table.signature);
    out->set_address(table.address.value());
    out->set_length(table.length);
  }
  return proto;
}

absl::StatusOr<VmBoot> BootRecordFromProto(const snapshot::v1::BootRecord& proto) {
  VmBoot boot;
  BootInfo& info = boot.info;
  if (proto.protocol() == BootProtocolName(BootProtocol::kLinux64)) {
    info.protocol = BootProtocol::kLinux64;
  } else if (proto.protocol() == BootProtocolName(BootProtocol::kPvh)) {
    info.protocol = BootProtocol::kPvh;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.boot.protocol is \"", proto.protocol(), "\"; not linux64 or pvh"));
  }
  if (static_cast<size_t>(proto.e820_size()) > E820Map::kCapacity) {
    return absl::InvalidArgumentError(absl::StrCat("spec.boot.e820 has ", proto.e820_size(),
                                                   " entries; a zero page holds ",
                                                   E820Map::kCapacity));
  }
  info.entry_point = GuestAddress(proto.entry_point());
  info.zero_page = GuestAddress(proto.zero_page());
  info.start_info = GuestAddress(proto.start_info());
  info.cmdline = GuestAddress(proto.cmdline_address());
  info.cmdline_size = proto.cmdline_size();
  info.initrd = GuestAddress(proto.initrd());
  info.initrd_size = proto.initrd_size();
  info.mp_table = GuestAddress(proto.mp_table());
  info.mp_table_size = proto.mp_table_size();
  info.page_table_root = GuestAddress(proto.page_table_root());
  info.identity_mapped_bytes = proto.identity_mapped_bytes();
  info.stack_pointer = GuestAddress(proto.stack_pointer());
  for (const snapshot::v1::BootRecord::E820Entry& entry : proto.e820()) {
    info.e820.push_back(E820Entry{entry.address(), entry.size(), entry.type()});
  }
  for (const snapshot::v1::BootRecord::AcpiTable& table : proto.acpi_tables()) {
    info.acpi_tables.push_back({table.signature(), GuestAddress(table.address()), table.length()});
  }
  if (!info.acpi_tables.empty()) info.acpi_rsdp = info.acpi_tables.front().address;
  boot.kernel_path = proto.kernel_path();
  boot.kernel_format = proto.kernel_format();
  boot.cmdline = proto.cmdline();
  return boot;
}

}  // namespace

snapshot::v1::VmSpec VmSpecToProto(const VmConfig& config, const VmBoot& boot) {
  snapshot::v1::VmSpec proto;
  proto.set_vcpu_count(config.vcpu_count);
  proto.set_memory_mib(config.memory_mib);
  proto.set_coalesce_serial_output(config.coalesce_serial_output);
  proto.set_virtio_ring_features(config.virtio_ring_features);
  proto.set_virtio_net_offloads(config.virtio_net_offloads);
  proto.set_transparent_huge_pages(config.transparent_huge_pages);
  for (const DriveConfig& drive : config.drives) {
    snapshot::v1::VmSpec::Drive* out = proto.add_drives();
    out->set_id(drive.id);
    out->set_path(drive.path);
    out->set_read_only(drive.read_only);
    out->set_root(drive.root);
  }
  proto.set_entropy_device(config.entropy_device);
  for (const NetworkInterfaceConfig& interface : config.network_interfaces) {
    snapshot::v1::VmSpec::NetworkInterface* out = proto.add_network_interfaces();
    out->set_id(interface.id);
    out->set_host_dev_name(interface.host_dev_name);
    out->set_mac(interface.mac.data(), interface.mac.size());
  }
  if (config.vsock) {
    proto.mutable_vsock()->set_guest_cid(config.vsock->guest_cid);
    proto.mutable_vsock()->set_uds_path(config.vsock->uds_path);
  }
  *proto.mutable_boot() = BootRecordToProto(boot);
  return proto;
}

absl::StatusOr<VmSpec> VmSpecFromProto(const snapshot::v1::VmSpec& proto) {
  VmSpec spec;
  VmConfig& config = spec.config;
  config.vcpu_count = proto.vcpu_count();
  config.memory_mib = proto.memory_mib();
  config.coalesce_serial_output = proto.coalesce_serial_output();
  config.virtio_ring_features = proto.virtio_ring_features();
  config.virtio_net_offloads = proto.virtio_net_offloads();
  config.transparent_huge_pages = proto.transparent_huge_pages();
  for (const snapshot::v1::VmSpec::Drive& drive : proto.drives()) {
    config.drives.push_back(DriveConfig{drive.id(), drive.path(), drive.read_only(), drive.root()});
  }
  config.entropy_device = proto.entropy_device();
  for (int i = 0; i < proto.network_interfaces_size(); ++i) {
    const snapshot::v1::VmSpec::NetworkInterface& interface = proto.network_interfaces(i);
    NetworkInterfaceConfig out{interface.id(), interface.host_dev_name(), {}};
    if (interface.mac().size() != out.mac.size()) {
      return absl::InvalidArgumentError(absl::StrCat("spec.network_interfaces[", i, "].mac is ",
                                                     interface.mac().size(),
                                                     " bytes; a MAC is 6"));
    }
    std::copy(interface.mac().begin(), interface.mac().end(), out.mac.begin());
    config.network_interfaces.push_back(std::move(out));
  }
  if (proto.has_vsock()) config.vsock = VsockConfig{proto.vsock().guest_cid(), proto.vsock().uds_path()};
  absl::StatusOr<VmBoot> boot = BootRecordFromProto(proto.boot());
  if (!boot.ok()) return boot.status();
  spec.boot = std::move(*boot);
  return spec;
}

}  // namespace vmmd
