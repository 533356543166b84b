// The MSR values every vCPU starts with.
#ifndef VMMD_BOOT_MSRS_H_
#define VMMD_BOOT_MSRS_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace vmmd {

// MSR numbers (Intel SDM vol. 4, table 2-2).
inline constexpr uint32_t kMsrIa32Tsc = 0x10;
inline constexpr uint32_t kMsrIa32SysenterCs = 0x174;
inline constexpr uint32_t kMsrIa32SysenterEsp = 0x175;
inline constexpr uint32_t kMsrIa32SysenterEip = 0x176;
inline constexpr uint32_t kMsrIa32MiscEnable = 0x1a0;
inline constexpr uint32_t kMsrMtrrDefType = 0x2ff;
inline constexpr uint32_t kMsrEfer = 0xc0000080;
inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSyscallMask = 0xc0000084;
inline constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

// IA32_MISC_ENABLE bit 0: fast-string operations enabled (as firmware leaves it).
inline constexpr uint64_t kMiscEnableFastString = 1;
// IA32_MTRR_DEF_TYPE: MTRRs enabled (bit 11), default memory type write-back (6). Without
// it Linux sees MTRRs off and maps all RAM uncached.
inline constexpr uint64_t kMtrrDefTypeEnabledWriteBack = (1 << 11) | 6;

// The seeds' ten MSRs (SYSENTER_CS/ESP/EIP, STAR, CSTAR, KERNEL_GS_BASE, SYSCALL_MASK,
// LSTAR, TSC all zero; MISC_ENABLE fast strings) and MTRRdefType.
std::vector<kvm_msr_entry> BootMsrs();

}  // namespace vmmd

#endif  // VMMD_BOOT_MSRS_H_
