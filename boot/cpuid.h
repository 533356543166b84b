// Per-vCPU CPUID: what KVM_GET_SUPPORTED_CPUID offers, normalised so each vCPU sees its own
// APIC id, the VM's topology and that it runs under a hypervisor.
#ifndef VMMD_BOOT_CPUID_H_
#define VMMD_BOOT_CPUID_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace vmmd {

// Bits we set (Intel SDM vol. 2A, CPUID).
inline constexpr uint32_t kCpuid1EcxHypervisor = 1u << 31;  // leaf 1 ECX[31]
inline constexpr uint32_t kCpuid1EdxHtt = 1u << 28;         // leaf 1 EDX[28]: EBX[23:16] valid

// Returns `supported` with, for vCPU `apic_id` of `vcpu_count` (one core per vCPU, one
// package, no SMT):
//  - leaf 1: EBX[31:24] initial APIC id, EBX[23:16] logical processor count (and HTT when
//    more than one), ECX[31] hypervisor present;
//  - leaf 4: EAX[31:26] cores per package - 1, EAX[25:14] 0 (each cache private to a core);
//  - leaves 0xB and 0x1F: EDX x2APIC id in every subleaf; subleaf 0 the SMT level (1 thread),
//    subleaf 1 the core level (vcpu_count cores), higher subleaves invalid;
//  - AMD and Hygon: leaf 0x80000008 ECX the core count and its APIC id bits; leaf 0x8000001D
//    caches private to a core; leaf 0x8000001E the vCPU's APIC id as core id, one thread per
//    core, node 0. (Passed through, they described the host's cores and this CPU's place
//    among them: Linux then builds a topology that is not the VM's.)
std::vector<kvm_cpuid_entry2> NormalizeCpuid(absl::Span<const kvm_cpuid_entry2> supported,
                                             uint32_t apic_id, uint32_t vcpu_count);

}  // namespace vmmd

#endif  // VMMD_BOOT_CPUID_H_
