// Every guest-physical address the boot layer uses, each with the reason it is there.
// The low-memory map follows Dragonball's dbs-boot layout.rs and Firecracker's
// arch/x86_64/layout.rs, so guests tuned for those VMMs find what they expect.
#ifndef VMMD_BOOT_LAYOUT_H_
#define VMMD_BOOT_LAYOUT_H_

#include <cstdint>

#include "kvm/guest_memory.h"

namespace vmmd::layout {

inline constexpr uint64_t kPageSize = 0x1000;

// [0, 0x500): real-mode IVT and BIOS data area. Left zero: no BIOS runs, and Linux reads the
// EBDA pointer at 0x40e only to search for an MP table we also place where it looks first.

// GDT: 4 descriptors (NULL, CODE, DATA, TSS) right after the BIOS data area, as the seeds do.
inline constexpr uint64_t kGdtStart = 0x500;
inline constexpr uint64_t kGdtMaxEntries = 4;
// IDT: one empty descriptor. The kernel installs its own before enabling interrupts.
inline constexpr uint64_t kIdtStart = 0x520;
inline constexpr uint64_t kIdtSize = 8;

// PVH boot (instead of the zero page): hvm_start_info, one module entry (the initrd) and up
// to 128 memory-map entries, in the page below the zero page.
inline constexpr uint64_t kPvhStartInfo = 0x6000;
inline constexpr uint64_t kPvhModlistStart = 0x6040;
inline constexpr uint64_t kPvhMemmapStart = 0x6100;
inline constexpr uint64_t kPvhMemmapMaxEntries = 128;
inline constexpr uint64_t kPvhMemmapEntrySize = 24;

// Zero page: struct boot_params (4 KiB). RSI points here at the 64-bit entry
// (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol").
inline constexpr uint64_t kZeroPageStart = 0x7000;
inline constexpr uint64_t kZeroPageSize = 0x1000;

// Boot stack: RSP = RBP = 0x8ff0, growing down through the page [0x8000, 0x9000).
inline constexpr uint64_t kBootStackPointer = 0x8ff0;
inline constexpr uint64_t kBootStackBottom = 0x8000;

// Identity page tables: one PML4, one PDPT and 4 page directories of 2 MiB pages, mapping
// guest-physical [0, 4 GiB). See page_tables.h for why 4 GiB.
inline constexpr uint64_t kPml4Start = 0x9000;
inline constexpr uint64_t kPdptStart = 0xa000;
inline constexpr uint64_t kPdStart = 0xb000;
inline constexpr uint64_t kPdCount = 4;
inline constexpr uint64_t kPageTablesEnd = kPdStart + kPdCount * kPageSize;

// Kernel command line: 64 KiB (NUL included) at 128 KiB, below the EBDA as boot.rst asks
// ("somewhere between the end of the setup heap and 0xA0000"). A kernel's own cmdline_size
// may lower the limit.
inline constexpr uint64_t kCmdlineStart = 0x20000;
inline constexpr uint64_t kCmdlineMaxSize = 0x10000;

// EBDA: the last KiB of the 640 KiB of conventional memory. The MP floating pointer and
// configuration table start here, the first place Linux (and the MP spec 1.4, section 4)
// looks. From here to 1 MiB is reserved in e820 (EBDA, VGA hole, option and BIOS ROMs).
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kMpTableStart = kEbdaStart;

// HIMEM_START: where protected-mode kernels load (boot.rst: "loaded at 0x100000").
inline constexpr uint64_t kHighMemStart = 0x100000;

// initrd: at the top of RAM below the MMIO gap, keeping this much free above HIMEM_START
// for the kernel and its early allocations (dbs-boot's initrd_load_addr rule).
inline constexpr uint64_t kInitrdLowHeadroom = 32 << 20;

// Interrupt controllers' MMIO (Intel SDM vol. 3, 10.4.1; 82093AA IOAPIC datasheet).
inline constexpr uint64_t kIoapicAddress = 0xfec00000;
inline constexpr uint64_t kLapicAddress = 0xfee00000;

// KVM's TSS (three pages, KVM_SET_TSS_ADDR) and EPT identity-map page
// (KVM_SET_IDENTITY_MAP_ADDR), needed by Intel hosts, inside the MMIO gap so they never
// shadow RAM.
inline constexpr uint64_t kKvmIdentityMapAddress = 0xfffbc000;
inline constexpr uint64_t kKvmTssAddress = 0xfffbd000;
inline constexpr uint64_t kKvmTssSize = 3 * kPageSize;

namespace internal {

struct Region {
  uint64_t start;
  uint64_t end;  // exclusive
};

inline constexpr Region kLowRegions[] = {
    {kGdtStart, kGdtStart + kGdtMaxEntries * 8},
    {kPvhStartInfo, kPvhStartInfo + 56},
    {kPvhModlistStart, kPvhModlistStart + 32},
    {kPvhMemmapStart, kPvhMemmapStart + kPvhMemmapMaxEntries * kPvhMemmapEntrySize},
    {kIdtStart, kIdtStart + kIdtSize},
    {kZeroPageStart, kZeroPageStart + kZeroPageSize},
    {kBootStackBottom, kBootStackPointer + 0x10},
    {kPml4Start, kPml4Start + kPageSize},
    {kPdptStart, kPdptStart + kPageSize},
    {kPdStart, kPageTablesEnd},
    {kCmdlineStart, kCmdlineStart + kCmdlineMaxSize},
    {kMpTableStart, kHighMemStart},
};

constexpr bool NoneOverlap() {
  constexpr int n = sizeof(kLowRegions) / sizeof(kLowRegions[0]);
  for (int i = 0; i < n; ++i) {
    if (kLowRegions[i].start >= kLowRegions[i].end) return false;
    for (int j = i + 1; j < n; ++j) {
      if (kLowRegions[i].start < kLowRegions[j].end && kLowRegions[j].start < kLowRegions[i].end)
        return false;
    }
  }
  return true;
}

}  // namespace internal

static_assert(internal::NoneOverlap(), "boot structures in low memory overlap");
static_assert(kCmdlineStart + kCmdlineMaxSize <= kEbdaStart, "cmdline must end below the EBDA");
static_assert(kPageTablesEnd <= kCmdlineStart);
static_assert(kKvmIdentityMapAddress + kPageSize <= kKvmTssAddress);
static_assert(kKvmIdentityMapAddress >= kMmioGapStart && kKvmTssAddress + kKvmTssSize <= kMmioGapEnd,
              "KVM's private pages must sit in the MMIO gap");
static_assert(kIoapicAddress >= kMmioGapStart && kLapicAddress < kMmioGapEnd);
static_assert(kHighMemStart + kInitrdLowHeadroom < kMmioGapStart);

}  // namespace vmmd::layout

#endif  // VMMD_BOOT_LAYOUT_H_
