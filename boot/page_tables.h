// Identity page tables for entering the guest in 64-bit mode.
//
// How much: guest-physical [0, 4 GiB) with 2 MiB pages (PML4 -> 1 PDPT -> 4 page
// directories), six 4 KiB pages at 0x9000-0xf000. The seeds map 1 GiB. We map 4 GiB because
// every address a boot protocol hands the kernel lies below 4 GiB and must be reachable
// before the kernel builds its own tables: the kernel image and zero page (boot.rst asks for
// those), an initrd placed near the top of 3 GiB of RAM, and the LAPIC/IOAPIC pages in the
// MMIO gap. 2 MiB pages need only PSE, which every x86_64 CPU has; 1 GiB pages would need
// pdpe1gb, which KVM may not offer.
#ifndef VMMD_BOOT_PAGE_TABLES_H_
#define VMMD_BOOT_PAGE_TABLES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// Bytes of guest-physical address space the identity map covers.
inline constexpr uint64_t kIdentityMappedBytes = uint64_t{4} << 30;

// Page-table entry bits (Intel SDM vol. 3, 4.5): present, writable, and page size (a 2 MiB
// page in a page directory).
inline constexpr uint64_t kPtePresent = 1 << 0;
inline constexpr uint64_t kPteWritable = 1 << 1;
inline constexpr uint64_t kPtePageSize = 1 << 7;

// Writes the tables; returns the PML4 address (for CR3). OUT_OF_RANGE if RAM ends before
// layout::kPageTablesEnd.
absl::StatusOr<GuestAddress> WriteIdentityPageTables(GuestMemory& memory);

}  // namespace vmmd

#endif  // VMMD_BOOT_PAGE_TABLES_H_
