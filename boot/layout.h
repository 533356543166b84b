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

// ACPI tables (boot/acpi): in the BIOS area [0xe0000, 1 MiB), where Linux looks for the RSDP
// when nothing points at it (ACPI 6.5, 5.2.5.1); the zero page's acpi_rsdp_addr and PVH's
// rsdp_paddr point there as well. e820 marks the range ACPI data (type 3) when the guest
// has tables, reserved otherwise.
inline constexpr uint64_t kAcpiTablesStart = 0xe0000;

// The FADT's sleep control and status registers (I/O ports, devices/acpi_sleep): a guest
// writes S5 to the first to power off. 0x600 is free on a PC (QEMU's ICH9 uses it for PM).
inline constexpr uint16_t kAcpiSleepControlPort = 0x600;
inline constexpr uint16_t kAcpiSleepStatusPort = 0x601;

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

// The interrupt controllers' register windows, reserved as a page each for the checks below
// (the IOAPIC decodes 0x100 bytes, IOREGSEL and IOWIN; the LAPIC's page is SDM vol. 3, 10.4.1).
inline constexpr uint64_t kIoapicSize = kPageSize;
inline constexpr uint64_t kLapicSize = kPageSize;

// Devices' MMIO windows (virtio-mmio transports, which Linux finds through
// virtio_mmio.device=<size>@<base>:<irq>), handed out by devices/resource_allocator: the
// bottom 256 MiB of the MMIO gap, far below the interrupt controllers and KVM's pages at its
// top. 256 MiB is 65536 one-page windows, many more than there are IRQ lines for them, with
// room for a device's larger shared-memory region; [0xd0000000, kIoapicAddress) stays free
// for a PCI hole (ECAM and 32-bit BARs) later.
inline constexpr uint64_t kDeviceMmioStart = kMmioGapStart;
inline constexpr uint64_t kDeviceMmioSize = uint64_t{256} << 20;
inline constexpr uint64_t kDeviceMmioEnd = kDeviceMmioStart + kDeviceMmioSize;
// A window's unit: a page. virtio-mmio's registers need 0x200 bytes (virtio 1.2, 4.2.2: the
// device configuration space starts at 0x100), but page-sized, page-aligned windows never
// share a page, so each can be trapped or mapped on its own (KVM ioeventfd on its notify
// register, a memslot for a shared-memory region).
inline constexpr uint64_t kDeviceMmioWindowSize = kPageSize;

// IRQ lines (GSIs) for devices: IOAPIC pins 5 to 23 of the 24 that KVM_CREATE_IRQCHIP's
// IOAPIC has (KVM_IOAPIC_NUM_PINS; 82093AA datasheet). KVM routes GSIs 0-15 to the PIC as
// well, so the ISA lines below 5 stay with what a PC has there: 0 the PIT (KVM_CREATE_PIT2),
// 1 the i8042's keyboard port, 2 the PIC cascade, 3 COM2, 4 COM1 (devices/serial.h). Inside
// the range two ISA lines are skipped because Linux claims them by number on a PC: 8, the
// CMOS RTC's (rtc_cmos, and the HPET in legacy replacement mode), and 12, the i8042's AUX
// (mouse) port, which the i8042 driver requests while it probes the controller
// (devices/i8042.h). A device on either would share an edge-triggered line with a driver
// that does not expect it.
inline constexpr uint32_t kIoapicPins = 24;
inline constexpr uint32_t kDeviceIrqFirst = 5;
inline constexpr uint32_t kDeviceIrqLast = 23;
inline constexpr uint32_t kDeviceIrqsSkipped[] = {8, 12};  // ascending

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
    {kMpTableStart, kAcpiTablesStart},
    {kAcpiTablesStart, kHighMemStart},
};

// What the layout places in the MMIO gap.
inline constexpr Region kGapRegions[] = {
    {kDeviceMmioStart, kDeviceMmioEnd},
    {kIoapicAddress, kIoapicAddress + kIoapicSize},
    {kLapicAddress, kLapicAddress + kLapicSize},
    {kKvmIdentityMapAddress, kKvmIdentityMapAddress + kPageSize},
    {kKvmTssAddress, kKvmTssAddress + kKvmTssSize},
};

template <int n>
constexpr bool NoneOverlap(const Region (&regions)[n]) {
  for (int i = 0; i < n; ++i) {
    if (regions[i].start >= regions[i].end) return false;
    for (int j = i + 1; j < n; ++j) {
      if (regions[i].start < regions[j].end && regions[j].start < regions[i].end) return false;
    }
  }
  return true;
}

constexpr bool InsideGap(const Region& region) {
  return region.start >= kMmioGapStart && region.end <= kMmioGapEnd;
}

constexpr bool SkippedIrqsAscendingInRange() {
  uint32_t previous = kDeviceIrqFirst;
  for (uint32_t irq : kDeviceIrqsSkipped) {
    if (irq <= previous || irq >= kDeviceIrqLast) return false;
    previous = irq;
  }
  return true;
}

}  // namespace internal

static_assert(internal::NoneOverlap(internal::kLowRegions),
              "boot structures in low memory overlap");
static_assert(kCmdlineStart + kCmdlineMaxSize <= kEbdaStart, "cmdline must end below the EBDA");
static_assert(kPageTablesEnd <= kCmdlineStart);
static_assert(kKvmIdentityMapAddress + kPageSize <= kKvmTssAddress);
static_assert(kKvmIdentityMapAddress >= kMmioGapStart && kKvmTssAddress + kKvmTssSize <= kMmioGapEnd,
              "KVM's private pages must sit in the MMIO gap");
static_assert(kIoapicAddress >= kMmioGapStart && kLapicAddress < kMmioGapEnd);
static_assert(kHighMemStart + kInitrdLowHeadroom < kMmioGapStart);
static_assert(internal::NoneOverlap(internal::kGapRegions),
              "regions in the MMIO gap overlap");
static_assert(internal::InsideGap(internal::kGapRegions[0]),
              "devices' MMIO windows must sit in the MMIO gap");
static_assert(kDeviceMmioEnd <= kIoapicAddress, "devices' MMIO windows end below the IOAPIC");
static_assert(kDeviceMmioStart % kDeviceMmioWindowSize == 0 &&
                  kDeviceMmioSize % kDeviceMmioWindowSize == 0,
              "devices' MMIO range must be whole windows");
static_assert(kDeviceIrqFirst > 4, "lines 0-4 are the PIT, i8042, PIC cascade, COM2 and COM1");
static_assert(kDeviceIrqFirst <= kDeviceIrqLast && kDeviceIrqLast < kIoapicPins);
static_assert(internal::SkippedIrqsAscendingInRange(),
              "skipped IRQ lines must be ascending and inside the device range");

}  // namespace vmmd::layout

#endif  // VMMD_BOOT_LAYOUT_H_
