// A VM's configuration as the daemon settled it (CreateVm's request, validated, with the
// daemon's options), and how it was booted: what a VirtualMachine is built from, and what a
// snapshot records to build it again.
#ifndef VMMD_DAEMON_VM_CONFIG_H_
#define VMMD_DAEMON_VM_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "boot/configure_boot.h"
#include "daemon/console_log.h"
#include "devices/virtio/net/mac_address.h"

namespace vmmd {

// A drive as the client asked for it; its image's fd travels beside the config (VmImages).
struct DriveConfig {
  std::string id;
  std::string path;
  bool read_only = false;
  bool root = false;
};

// A network interface as the client asked for it, its address settled (given or generated).
struct NetworkInterfaceConfig {
  std::string id;
  std::string host_dev_name;
  virtio::MacAddress mac{};
};

// A vsock device as the client asked for it.
struct VsockConfig {
  uint32_t guest_cid = 0;
  std::string uds_path;
};

struct VmConfig {
  std::string id;
  uint32_t vcpu_count = 1;
  uint64_t memory_mib = 128;
  std::string console_log_path;  // empty: console kept in memory only
  ConsoleLogLimits console_log_limits;
  // Let KVM queue COM1's THR writes while the UART allows it (daemon/coalesced_port_writes.h).
  bool coalesce_serial_output = true;
  bool virtio_ring_features = true;  // MachineConfig::virtio_ring_features
  // Offer virtio-net drivers the checksum and segmentation offloads (NetDevice::Offloads);
  // false only to measure what they buy (tools/bench).
  bool virtio_net_offloads = true;
  bool transparent_huge_pages = false;  // MachineConfig::transparent_huge_pages
  std::vector<DriveConfig> drives;
  bool entropy_device = false;
  std::vector<NetworkInterfaceConfig> network_interfaces;
  std::optional<VsockConfig> vsock;
  std::map<std::string, std::string> labels;  // validated (daemon/labels.h)
};

// How a VM was booted: what ConfigureBoot wrote and what GetVm reports of it.
struct VmBoot {
  BootInfo info;
  std::string kernel_path;
  std::string kernel_format;
  std::string cmdline;  // the whole, the device parts included
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VM_CONFIG_H_
