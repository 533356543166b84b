// GetHostInfo's answer: what this host and this vmmd offer a VM (the KVM capabilities vmmd
// uses, the CPU and the CPUID features guests get, limits, devices and boot protocols) and
// what its VMs hold now. For schedulers deciding where a VM goes.
#ifndef VMMD_DAEMON_HOST_INFO_H_
#define VMMD_DAEMON_HOST_INFO_H_

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "daemon/vm_manager.h"
#include "vmm/v1/vmm.pb.h"

namespace vmmd {

// This vmmd's version, as GetHostInfo reports it.
inline constexpr char kVmmdVersion[] = "0.15.0";

// The names (as Linux's /proc/cpuinfo flags) of the features set in `cpuid`'s leaves 1, 7
// and 0x80000001, in a fixed order.
std::vector<std::string> CpuidFeatureNames(absl::Span<const kvm_cpuid_entry2> cpuid);

// The host CPU's brand string (CPUID 0x80000002-4) and vendor (leaf 0), trimmed.
std::string HostCpuModel();
std::string HostCpuVendor();

// Everything GetHostInfo answers, from the manager (which may have no KVM).
void DescribeHost(const VmManager& manager, vmm::v1::HostInfo* info);

}  // namespace vmmd

#endif  // VMMD_DAEMON_HOST_INFO_H_
