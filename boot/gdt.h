// The boot GDT and IDT, and the conversion of a GDT descriptor into the kvm_segment that
// KVM_SET_SREGS loads into a segment register's hidden part.
#ifndef VMMD_BOOT_GDT_H_
#define VMMD_BOOT_GDT_H_

#include <linux/kvm.h>

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "boot/layout.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// Packs a segment descriptor (Intel SDM vol. 3, 3.4.5). `flags` holds the access byte in
// bits 0-7 and the G/DB/L/AVL nibble in bits 12-15, as in Linux's GDT_ENTRY().
constexpr uint64_t GdtEntry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((uint64_t{base} & 0xff000000) << (56 - 24)) | ((uint64_t{flags} & 0xf0ff) << 40) |
         ((uint64_t{limit} & 0x000f0000) << (48 - 16)) | ((uint64_t{base} & 0x00ffffff) << 16) |
         (uint64_t{limit} & 0x0000ffff);
}

// The boot GDT: NULL; 64-bit code (0xa09b: present, ring 0, execute/read, accessed, L=1, G=1);
// flat data (0xc093: present, read/write, accessed, DB=1, G=1); a TSS (0x808b: present, busy
// 64-bit TSS) that KVM requires TR to hold in long mode.
inline constexpr std::array<uint64_t, layout::kGdtMaxEntries> kBootGdt = {
    GdtEntry(0, 0, 0),
    GdtEntry(0xa09b, 0, 0xfffff),
    GdtEntry(0xc093, 0, 0xfffff),
    GdtEntry(0x808b, 0, 0xfffff),
};
// The PVH boot GDT: 32-bit flat code (0xc09b) and data (0xc093), and a 32-bit TSS (0x008b,
// limit 0x67) as the PVH ABI asks (xen/include/public/arch-x86/hvm/start_info.h).
inline constexpr std::array<uint64_t, layout::kGdtMaxEntries> kPvhGdt = {
    GdtEntry(0, 0, 0),
    GdtEntry(0xc09b, 0, 0xfffff),
    GdtEntry(0xc093, 0, 0xfffff),
    GdtEntry(0x008b, 0, 0x67),
};
inline constexpr uint16_t kBootCodeSelector = 1 * 8;
inline constexpr uint16_t kBootDataSelector = 2 * 8;
inline constexpr uint16_t kBootTssSelector = 3 * 8;

// The hidden-part view of `entry`, as loaded through selector `table_index` * 8.
kvm_segment KvmSegmentFromGdt(uint64_t entry, uint8_t table_index);

// Writes `gdt` at layout::kGdtStart and a zero IDT entry at layout::kIdtStart.
// OUT_OF_RANGE if they do not fit in RAM.
absl::Status WriteBootGdtAndIdt(GuestMemory& memory,
                                const std::array<uint64_t, layout::kGdtMaxEntries>& gdt = kBootGdt);

}  // namespace vmmd

#endif  // VMMD_BOOT_GDT_H_
