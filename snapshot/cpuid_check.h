// Whether a snapshot's vCPU may run on this host: the CPU features its guest was shown must
// all be offered here too (a guest that saw AVX-512 and wakes on a host without it faults on
// its next vector instruction), and the CPU vendor must be the same.
#ifndef VMMD_SNAPSHOT_CPUID_CHECK_H_
#define VMMD_SNAPSHOT_CPUID_CHECK_H_

#include <linux/kvm.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vmmd::snapshot {

// `saved` is the vCPU's CPUID as the snapshot holds it; `offered`, what this host gives the
// same vCPU (NormalizeCpuid of KVM_GET_SUPPORTED_CPUID). Compared: the vendor (leaf 0) and
// the feature words (leaf 1 ECX/EDX, leaf 7.0 EBX/ECX/EDX, leaf 0xD.0 EAX/EDX and 0xD.1
// EAX, leaf 0x80000001 ECX/EDX), less the bits KVM changes as the guest runs (OSXSAVE,
// OSPKE, APIC). FAILED_PRECONDITION naming `where`, the leaf, the register and the
// missing bits.
absl::Status CheckCpuidOffered(absl::Span<const kvm_cpuid_entry2> saved,
                               absl::Span<const kvm_cpuid_entry2> offered, absl::string_view where);

}  // namespace vmmd::snapshot

#endif  // VMMD_SNAPSHOT_CPUID_CHECK_H_
