// VcpuState: everything KVM holds for one vCPU, read out and put back (snapshots).
//
// What is saved is what a guest can observe: registers, segment and control registers, the
// FPU and the whole XSAVE area, XCR0, every MSR KVM lists as saveable (KVM_GET_MSR_INDEX_LIST)
// that this vCPU can read, the LAPIC, the MP state (running, halted, waiting for SIPI),
// pending exceptions/interrupts/NMIs, the debug registers, the CPUID it was given and its
// TSC frequency. Plain values: the snapshot format serialises them as they are.
#ifndef VMMD_KVM_VCPU_STATE_H_
#define VMMD_KVM_VCPU_STATE_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvm/vcpu.h"

namespace vmmd {

struct VcpuState {
  std::vector<kvm_cpuid_entry2> cpuid;
  uint32_t tsc_khz = 0;
  kvm_mp_state mp_state = {};
  kvm_regs regs = {};
  kvm_sregs sregs = {};
  kvm_fpu fpu = {};
  std::vector<uint32_t> xsave;  // Vm::XsaveSize() bytes
  kvm_xcrs xcrs = {};
  kvm_debugregs debug_regs = {};
  kvm_lapic_state lapic = {};
  std::vector<kvm_msr_entry> msrs;  // in KVM_GET_MSR_INDEX_LIST's order
  kvm_vcpu_events events = {};
};

// Reads `vcpu`'s state. `msr_indices` is KvmSystem::GetMsrIndexList(): each MSR this vCPU
// will not read (a feature its CPUID lacks) is left out, the rest are kept in that order.
// `xsave_bytes` is Vm::XsaveSize(). The vCPU must not be running. Errors name the ioctl.
absl::StatusOr<VcpuState> SaveVcpuState(const Vcpu& vcpu, absl::Span<const uint32_t> msr_indices,
                                        size_t xsave_bytes);

// KVM's tsc_tolerance_ppm (its default): rates this close are the same rate to KVM.
inline constexpr uint64_t kTscTolerancePpm = 250;

// Whether a vCPU whose TSC runs at `vcpu_khz` must be set to `wanted_khz` (KVM_SET_TSC_KHZ):
// they differ by more than kTscTolerancePpm of `vcpu_khz`.
bool TscNeedsScaling(uint32_t vcpu_khz, uint32_t wanted_khz);

// Puts `state` back into a freshly created vCPU of a VM built like the saved one, in the
// order KVM needs: CPUID first (it decides which MSRs and XSAVE features exist), the TSC
// frequency (only if it differs from the vCPU's: TscNeedsScaling), then MP state, registers,
// FPU and XSAVE, XCRs, debug registers, the LAPIC, the MSRs (after the LAPIC: the TSC
// deadline lives in both) and last the pending events. An error names the ioctl (and for
// MSRs, the one KVM refused; for the TSC rate, both rates).
absl::Status RestoreVcpuState(Vcpu& vcpu, const VcpuState& state);

}  // namespace vmmd

#endif  // VMMD_KVM_VCPU_STATE_H_
