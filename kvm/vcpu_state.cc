#include "kvm/vcpu_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace vmmd {
namespace {

// The MSRs of `indices` this vCPU reads, with their values. KVM_GET_MSRS stops at the first
// MSR it will not read; that one is skipped and the read goes on after it.
absl::StatusOr<std::vector<kvm_msr_entry>> ReadableMsrs(const Vcpu& vcpu,
                                                        absl::Span<const uint32_t> indices) {
  std::vector<kvm_msr_entry> saved;
  saved.reserve(indices.size());
  while (!indices.empty()) {
    ASSIGN_OR_RETURN(std::vector<kvm_msr_entry> read, vcpu.GetMsrsUpTo(indices));
    saved.insert(saved.end(), read.begin(), read.end());
    // Past what was read and the MSR that stopped it.
    indices.remove_prefix(std::min(indices.size(), read.size() + 1));
  }
  return saved;
}

constexpr uint32_t kMsrIa32Tsc = 0x10;

// KVM takes a write of IA32_TSC soon after the VM's previous one (within a second's worth
// of cycles, as a fresh vCPU's zero is) for an attempt to synchronise the vCPUs' TSCs, and
// keeps the old offset instead: a guest saved less than a second into its run would find
// its TSC back near zero, behind what it last read. The offset itself is never second-
// guessed, so it is set to what makes the TSC read the saved value now.
absl::Status RestoreTsc(Vcpu& vcpu, absl::Span<const kvm_msr_entry> msrs) {
  const auto saved = std::find_if(msrs.begin(), msrs.end(),
                                  [](const kvm_msr_entry& msr) { return msr.index == kMsrIa32Tsc; });
  if (saved == msrs.end() || !vcpu.HasTscOffsetControl()) return absl::OkStatus();
  ASSIGN_OR_RETURN(int64_t offset, vcpu.GetTscOffset());
  const uint32_t index = kMsrIa32Tsc;
  ASSIGN_OR_RETURN(std::vector<kvm_msr_entry> now, vcpu.GetMsrs(absl::MakeConstSpan(&index, 1)));
  return vcpu.SetTscOffset(offset + static_cast<int64_t>(saved->data - now[0].data));
}

}  // namespace

bool TscNeedsScaling(uint32_t vcpu_khz, uint32_t wanted_khz) {
  const uint64_t difference =
      vcpu_khz > wanted_khz ? vcpu_khz - wanted_khz : wanted_khz - vcpu_khz;
  return difference * 1'000'000 > uint64_t{vcpu_khz} * kTscTolerancePpm;
}

absl::StatusOr<VcpuState> SaveVcpuState(const Vcpu& vcpu, absl::Span<const uint32_t> msr_indices,
                                        size_t xsave_bytes) {
  VcpuState state;
  ASSIGN_OR_RETURN(state.cpuid, vcpu.GetCpuid2());
  ASSIGN_OR_RETURN(state.tsc_khz, vcpu.GetTscKhz());
  ASSIGN_OR_RETURN(state.mp_state, vcpu.GetMpState());
  ASSIGN_OR_RETURN(state.regs, vcpu.GetRegs());
  ASSIGN_OR_RETURN(state.sregs, vcpu.GetSregs());
  ASSIGN_OR_RETURN(state.fpu, vcpu.GetFpu());
  ASSIGN_OR_RETURN(state.xsave, vcpu.GetXsave(xsave_bytes));
  ASSIGN_OR_RETURN(state.xcrs, vcpu.GetXcrs());
  ASSIGN_OR_RETURN(state.debug_regs, vcpu.GetDebugRegs());
  ASSIGN_OR_RETURN(state.lapic, vcpu.GetLapic());
  ASSIGN_OR_RETURN(state.msrs, ReadableMsrs(vcpu, msr_indices));
  ASSIGN_OR_RETURN(state.events, vcpu.GetVcpuEvents());
  return state;
}

absl::Status RestoreVcpuState(Vcpu& vcpu, const VcpuState& state) {
  RETURN_IF_ERROR(vcpu.SetCpuid2(state.cpuid));
  if (state.tsc_khz != 0) {
    // Only a frequency that differs is set: KVM_SET_TSC_KHZ compares what it is given with
    // the host CPU's current rate, not the vCPU's, and without TSC scaling refuses any rate
    // below it, even the one this host gave the saved vCPU (seen in the TCG test VM, whose
    // TSC rate is recalibrated after KVM takes it).
    ASSIGN_OR_RETURN(const uint32_t vcpu_khz, vcpu.GetTscKhz());
    if (TscNeedsScaling(vcpu_khz, state.tsc_khz)) {
      const absl::Status set = vcpu.SetTscKhz(state.tsc_khz);
      if (!set.ok()) {
        return absl::Status(set.code(), absl::StrCat("tsc_khz: the snapshot's TSC ran at ",
                                                     state.tsc_khz, " kHz, this host's vCPUs run at ",
                                                     vcpu_khz, " kHz, and KVM cannot scale it: ",
                                                     set.message()));
      }
    }
  }
  RETURN_IF_ERROR(vcpu.SetMpState(state.mp_state));
  RETURN_IF_ERROR(vcpu.SetRegs(state.regs));
  RETURN_IF_ERROR(vcpu.SetSregs(state.sregs));
  // XSAVE holds the FPU state too and comes after it: it is the whole truth.
  RETURN_IF_ERROR(vcpu.SetFpu(state.fpu));
  RETURN_IF_ERROR(vcpu.SetXsave(state.xsave));
  RETURN_IF_ERROR(vcpu.SetXcrs(state.xcrs));
  RETURN_IF_ERROR(vcpu.SetDebugRegs(state.debug_regs));
  RETURN_IF_ERROR(vcpu.SetLapic(state.lapic));
  RETURN_IF_ERROR(vcpu.SetMsrs(state.msrs));
  RETURN_IF_ERROR(RestoreTsc(vcpu, state.msrs));
  return vcpu.SetVcpuEvents(state.events);
}

}  // namespace vmmd
