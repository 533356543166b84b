#include "boot/gdt.h"

#include "base/status_macros.h"

namespace vmmd {

kvm_segment KvmSegmentFromGdt(uint64_t entry, uint8_t table_index) {
  kvm_segment segment = {};
  segment.base = ((entry & 0xff00000000000000) >> 32) | ((entry & 0x000000ff00000000) >> 16) |
                 ((entry & 0x00000000ffff0000) >> 16);
  segment.limit = static_cast<uint32_t>(((entry & 0x000f000000000000) >> 32) | (entry & 0xffff));
  segment.selector = static_cast<uint16_t>(table_index) * 8;
  segment.type = (entry >> 40) & 0xf;
  segment.s = (entry >> 44) & 0x1;
  segment.dpl = (entry >> 45) & 0x3;
  segment.present = (entry >> 47) & 0x1;
  segment.avl = (entry >> 52) & 0x1;
  segment.l = (entry >> 53) & 0x1;
  segment.db = (entry >> 54) & 0x1;
  segment.g = (entry >> 55) & 0x1;
  segment.unusable = segment.present ? 0 : 1;
  return segment;
}

absl::Status WriteBootGdtAndIdt(GuestMemory& memory,
                                const std::array<uint64_t, layout::kGdtMaxEntries>& gdt) {
  RETURN_IF_ERROR(memory.Write(GuestAddress(layout::kGdtStart), gdt));
  return memory.Write<uint64_t>(GuestAddress(layout::kIdtStart), 0);
}

}  // namespace vmmd
