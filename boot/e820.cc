#include "boot/e820.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"

namespace vmmd {

absl::Status E820Map::Add(uint64_t address, uint64_t size, uint32_t type) {
  if (entries_.size() >= kCapacity) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("e820 map is full: the zero page holds at most %d entries", kCapacity));
  }
  if (size == 0 || address + size < address) {
    return absl::InvalidArgumentError(
        absl::StrFormat("e820 range [%#x, +%#x) is empty or wraps", address, size));
  }
  entries_.push_back({address, size, type});
  return absl::OkStatus();
}

absl::StatusOr<E820Map> BuildE820Map(const GuestMemory& memory, bool acpi_tables) {
  E820Map map;
  const uint64_t low_end = memory.low_region().end().value();  // at most 3 GiB

  // Conventional memory, below the EBDA.
  RETURN_IF_ERROR(map.Add(0, std::min(low_end, layout::kEbdaStart), kE820Ram));
  // EBDA (MP table), VGA hole, option and BIOS ROMs: reserved as on a PC; the ACPI tables
  // in the BIOS area.
  if (low_end > layout::kEbdaStart) {
    const uint64_t reserved_end = acpi_tables ? layout::kAcpiTablesStart : layout::kHighMemStart;
    RETURN_IF_ERROR(map.Add(layout::kEbdaStart, reserved_end - layout::kEbdaStart, kE820Reserved));
    if (acpi_tables) {
      RETURN_IF_ERROR(map.Add(layout::kAcpiTablesStart,
                              layout::kHighMemStart - layout::kAcpiTablesStart, kE820Acpi));
    }
  }
  // Extended memory up to the MMIO gap.
  if (low_end > layout::kHighMemStart) {
    RETURN_IF_ERROR(map.Add(layout::kHighMemStart, low_end - layout::kHighMemStart, kE820Ram));
  }
  // RAM beyond 3 GiB, which GuestMemory places from 4 GiB.
  for (const GuestMemoryRegion& region : memory.regions().subspan(1)) {
    RETURN_IF_ERROR(map.Add(region.start.value(), region.size, kE820Ram));
  }
  return map;
}

void StoreE820Map(const E820Map& map, boot_params& params) {
  for (size_t i = 0; i < map.entries().size(); ++i) {
    const E820Entry& entry = map.entries()[i];
    params.e820_table[i].addr = entry.addr;
    params.e820_table[i].size = entry.size;
    params.e820_table[i].type = entry.type;
  }
  params.e820_entries = static_cast<uint8_t>(map.entries().size());
}

}  // namespace vmmd
