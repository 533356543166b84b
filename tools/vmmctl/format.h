// Human-readable text for vmm.v1 messages: aligned "key  value" tables for one VM or one
// BootInfo, a column table for a list, one line per event. Addresses are in hex; e820
// entries read like the kernel's boot log ("[mem 0x...-0x...] usable"); drives and devices
// take one aligned line each ("drive0  virtio-blk  mmio 0xd0000000  irq 5  requests 12 ...").
#ifndef VMMD_TOOLS_VMMCTL_FORMAT_H_
#define VMMD_TOOLS_VMMCTL_FORMAT_H_

#include <string>

#include "vmm/v1/vmm.pb.h"

namespace vmmctl {

// "created", "configured", "running", "paused", "stopped", "unspecified".
std::string StateName(vmm::v1::VmState state);

// "[mem 0x0000000000000000-0x000000000009fbff] usable": the inclusive range and the type
// (1 usable, 2 reserved, 3 ACPI data, 4 ACPI NVS, 5 unusable, else "type N").
std::string FormatE820Entry(const vmm::v1::E820Entry& entry);

// Every line ends in '\n'.
// Drives as created, each device with its address and counters, then the boot info, if set.
std::string FormatVm(const vmm::v1::Vm& vm);
std::string FormatBootInfo(const vmm::v1::BootInfo& info);    // devices with window and irq
std::string FormatVmList(const vmm::v1::ListVmsResponse& list);  // header even when empty
// GetHostInfo's answer, a line per fact, capabilities sorted by name.
std::string FormatHostInfo(const vmm::v1::HostInfo& info);
std::string FormatVmEvent(const vmm::v1::VmEvent& event);     // one line, UTC timestamp

// The devices a VM was created with, for a list's column: "2 drives + rng", "1 drive",
// "rng" or "-".
std::string FormatDeviceSummary(const vmm::v1::Vm& vm);

// One line after a state-changing call: "vm-1: running", "vm-1: stopped (guest reset)".
std::string FormatStateLine(const vmm::v1::Vm& vm);

// After a snapshot: "vm-1: saved in /snap/a in 12.3 ms" and a line per file with its size
// and what it takes on disk.
std::string FormatSnapshotInfo(const vmm::v1::SnapshotInfo& info);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_FORMAT_H_
