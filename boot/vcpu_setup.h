// Register state for entering the kernel in 64-bit mode, and programming it into a vCPU in
// the order of shared/design/architecture.md: CPUID -> MSRs -> regs -> FPU -> sregs -> LAPIC.
#ifndef VMMD_BOOT_VCPU_SETUP_H_
#define VMMD_BOOT_VCPU_SETUP_H_

#include <linux/kvm.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "boot/kernel_loader.h"
#include "kvm/guest_address.h"
#include "kvm/vcpu.h"

namespace vmmd {

// Control-register and EFER bits (Intel SDM vol. 3, 2.5 and 2.2.1).
inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Et = 1ull << 4;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kEferLme = 1ull << 8;
inline constexpr uint64_t kEferLma = 1ull << 10;

// RFLAGS bit 1 is reserved and always set.
inline constexpr uint64_t kRflagsReserved = 0x2;
// FPU state after FNINIT: all exceptions masked, 64-bit precision; MXCSR power-on default.
inline constexpr uint16_t kFpuControlWord = 0x37f;
inline constexpr uint32_t kMxcsrDefault = 0x1f80;

// LAPIC register offsets and LVT delivery modes (Intel SDM vol. 3, 10.5.1).
inline constexpr int kApicLvtLint0 = 0x350;
inline constexpr int kApicLvtLint1 = 0x360;
inline constexpr uint32_t kApicDeliveryModeNmi = 4;
inline constexpr uint32_t kApicDeliveryModeExtInt = 7;

// General registers at the 64-bit entry (boot.rst): RIP = entry, RSI = zero page,
// RSP = RBP = boot stack, RFLAGS = 2 (interrupts off).
kvm_regs BootRegs(GuestAddress entry, GuestAddress zero_page, GuestAddress stack);

kvm_fpu BootFpu();

// Long mode with the boot GDT and IDT, identity paging rooted at `page_table_root`:
// CS = 64-bit code, DS/ES/FS/GS/SS = flat data, TR = the TSS; CR0 PE|PG, CR4 PAE,
// EFER LME|LMA. Fields not named keep their value in `sregs`.
void SetBootSregs(kvm_sregs& sregs, GuestAddress page_table_root);

// PVH entry state (start_info.h, "Entry point"): EBX = start_info, RIP = the 32-bit entry,
// RFLAGS = 2.
kvm_regs PvhRegs(GuestAddress entry, GuestAddress start_info);

// Flat 32-bit protected mode with paging off: CS/DS/ES/FS/GS/SS based at 0 with a 4 GiB
// limit, TR a 32-bit TSS, CR0 = PE|ET, CR3 = CR4 = EFER = 0.
void SetPvhSregs(kvm_sregs& sregs);

// LINT0 delivers ExtINT (the PIC, virtual wire mode) and LINT1 delivers NMI, as the MP
// table says. Other LAPIC registers keep their value.
void SetBootLapic(kvm_lapic_state& lapic);

struct VcpuBootState {
  BootProtocol protocol = BootProtocol::kLinux64;
  GuestAddress start_info;  // pvh
  absl::Span<const kvm_cpuid_entry2> supported_cpuid;
  uint32_t vcpu_count = 1;
  GuestAddress entry;
  GuestAddress zero_page;
  GuestAddress stack;
  GuestAddress page_table_root;
};

// Programs `vcpu`: CPUID (normalised for its id), MSRs, regs, FPU, sregs, LAPIC. Application
// processors (id != 0) get CPUID, MSRs, FPU and LAPIC but keep their reset regs and sregs:
// they wait for INIT-SIPI, which the guest's own SMP bring-up sends and which sets both.
// Returns the failing ioctl's status, naming the vCPU.
absl::Status ProgramVcpu(Vcpu& vcpu, const VcpuBootState& state);

}  // namespace vmmd

#endif  // VMMD_BOOT_VCPU_SETUP_H_
