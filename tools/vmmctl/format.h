// Human-readable text for vmm.v1 messages: aligned "key  value" tables for one VM or one
// BootInfo, a column table for a list, one line per event. Addresses are in hex; e820
// entries read like the kernel's boot log ("[mem 0x...-0x...] usable").
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
std::string FormatVm(const vmm::v1::Vm& vm);                  // plus its boot info, if set
std::string FormatBootInfo(const vmm::v1::BootInfo& info);
std::string FormatVmList(const vmm::v1::ListVmsResponse& list);  // header even when empty
std::string FormatVmEvent(const vmm::v1::VmEvent& event);     // one line, UTC timestamp

// One line after a state-changing call: "vm-1: running", "vm-1: stopped (guest reset)".
std::string FormatStateLine(const vmm::v1::Vm& vm);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_FORMAT_H_
