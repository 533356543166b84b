#include "boot/vcpu_setup.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "boot/cpuid.h"
#include "boot/gdt.h"
#include "boot/layout.h"
#include "boot/msrs.h"

namespace vmmd {
namespace {

uint32_t ReadApicRegister(const kvm_lapic_state& lapic, int offset) {
  uint32_t value;
  std::memcpy(&value, lapic.regs + offset, sizeof(value));
  return value;
}

void WriteApicRegister(kvm_lapic_state& lapic, int offset, uint32_t value) {
  std::memcpy(lapic.regs + offset, &value, sizeof(value));
}

void SetDeliveryMode(kvm_lapic_state& lapic, int offset, uint32_t mode) {
  uint32_t lvt = ReadApicRegister(lapic, offset);
  WriteApicRegister(lapic, offset, (lvt & ~0x700u) | (mode << 8));
}

// GDTR/IDTR at the boot tables, CS = `code`, the data segments = `data`, TR = the GDT's TSS.
void LoadBootTables(kvm_sregs& sregs, const std::array<uint64_t, layout::kGdtMaxEntries>& gdt,
                    const kvm_segment& code, const kvm_segment& data) {
  sregs.gdt.base = layout::kGdtStart;
  sregs.gdt.limit = sizeof(gdt) - 1;
  sregs.idt.base = layout::kIdtStart;
  sregs.idt.limit = layout::kIdtSize - 1;
  sregs.cs = code;
  sregs.ds = data;
  sregs.es = data;
  sregs.fs = data;
  sregs.gs = data;
  sregs.ss = data;
  sregs.tr = KvmSegmentFromGdt(gdt[3], 3);
}

// Prefixes a failed step's status with the vCPU it was for.
absl::Status ForVcpu(const Vcpu& vcpu, absl::string_view step, absl::Status status) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("vcpu ", vcpu.id(), ": ", step, ": ", status.message()));
}

}  // namespace

kvm_regs BootRegs(GuestAddress entry, GuestAddress zero_page, GuestAddress stack) {
  kvm_regs regs = {};
  regs.rflags = kRflagsReserved;
  regs.rip = entry.value();
  regs.rsp = stack.value();
  regs.rbp = stack.value();
  regs.rsi = zero_page.value();
  return regs;
}

kvm_fpu BootFpu() {
  kvm_fpu fpu = {};
  fpu.fcw = kFpuControlWord;
  fpu.mxcsr = kMxcsrDefault;
  return fpu;
}

void SetBootSregs(kvm_sregs& sregs, GuestAddress page_table_root) {
  LoadBootTables(sregs, kBootGdt, KvmSegmentFromGdt(kBootGdt[1], 1),
                 KvmSegmentFromGdt(kBootGdt[2], 2));
  sregs.cr0 |= kCr0Pe | kCr0Pg;
  sregs.cr3 = page_table_root.value();
  sregs.cr4 |= kCr4Pae;
  sregs.efer |= kEferLme | kEferLma;
}

kvm_regs PvhRegs(GuestAddress entry, GuestAddress start_info) {
  kvm_regs regs = {};
  regs.rflags = kRflagsReserved;
  regs.rip = entry.value();
  regs.rbx = start_info.value();
  return regs;
}

void SetPvhSregs(kvm_sregs& sregs) {
  // KvmSegmentFromGdt keeps the descriptor's 20-bit limit as the seeds do; in long mode
  // nothing checks it, but 32-bit protected mode does, so the flat segments get their
  // byte-granular 4 GiB limit here (G = 1: 0xfffff pages of 4 KiB).
  kvm_segment code = KvmSegmentFromGdt(kPvhGdt[1], 1);
  kvm_segment data = KvmSegmentFromGdt(kPvhGdt[2], 2);
  code.limit = 0xffffffff;
  data.limit = 0xffffffff;
  LoadBootTables(sregs, kPvhGdt, code, data);
  sregs.cr0 = kCr0Pe | kCr0Et;
  sregs.cr3 = 0;
  sregs.cr4 = 0;
  sregs.efer = 0;
}

void SetBootLapic(kvm_lapic_state& lapic) {
  SetDeliveryMode(lapic, kApicLvtLint0, kApicDeliveryModeExtInt);
  SetDeliveryMode(lapic, kApicLvtLint1, kApicDeliveryModeNmi);
}

absl::Status ProgramVcpu(Vcpu& vcpu, const VcpuBootState& state) {
  const bool bootstrap = vcpu.id() == 0;
  RETURN_IF_ERROR(ForVcpu(
      vcpu, "CPUID",
      vcpu.SetCpuid2(NormalizeCpuid(state.supported_cpuid, vcpu.id(), state.vcpu_count))));
  RETURN_IF_ERROR(ForVcpu(vcpu, "MSRs", vcpu.SetMsrs(BootMsrs())));
  const bool pvh = state.protocol == BootProtocol::kPvh;
  if (bootstrap) {
    const kvm_regs regs = pvh ? PvhRegs(state.entry, state.start_info)
                              : BootRegs(state.entry, state.zero_page, state.stack);
    RETURN_IF_ERROR(ForVcpu(vcpu, "regs", vcpu.SetRegs(regs)));
  }
  RETURN_IF_ERROR(ForVcpu(vcpu, "FPU", vcpu.SetFpu(BootFpu())));
  if (bootstrap) {
    absl::StatusOr<kvm_sregs> sregs = vcpu.GetSregs();
    RETURN_IF_ERROR(ForVcpu(vcpu, "sregs", sregs.status()));
    if (pvh) {
      SetPvhSregs(*sregs);
    } else {
      SetBootSregs(*sregs, state.page_table_root);
    }
    RETURN_IF_ERROR(ForVcpu(vcpu, "sregs", vcpu.SetSregs(*sregs)));
  }
  absl::StatusOr<kvm_lapic_state> lapic = vcpu.GetLapic();
  RETURN_IF_ERROR(ForVcpu(vcpu, "LAPIC", lapic.status()));
  SetBootLapic(*lapic);
  return ForVcpu(vcpu, "LAPIC", vcpu.SetLapic(*lapic));
}

}  // namespace vmmd
