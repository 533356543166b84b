// The e820 memory map handed to the kernel in the zero page (boot_params.e820_table).
#ifndef VMMD_BOOT_E820_H_
#define VMMD_BOOT_E820_H_

#include <asm/bootparam.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// Entry types (ACPI 6.5, 15.1 "Address Range Types"; Linux's E820_TYPE_*).
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;
inline constexpr uint32_t kE820Acpi = 3;  // ACPI tables: the OS may reclaim it once read

// One range of the map. The UAPI's struct boot_e820_entry is packed (20 bytes), which
// misaligns the 64-bit fields of every other element of an array; it is used only where the
// zero page itself is written.
struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = 0;
};

// A map bounded by the zero page's table (E820_MAX_ENTRIES_ZEROPAGE = 128 entries).
class E820Map {
 public:
  static constexpr size_t kCapacity = E820_MAX_ENTRIES_ZEROPAGE;

  // Appends an entry. RESOURCE_EXHAUSTED when the map already holds kCapacity entries;
  // INVALID_ARGUMENT for an empty or wrapping range.
  absl::Status Add(uint64_t address, uint64_t size, uint32_t type);

  absl::Span<const E820Entry> entries() const { return entries_; }

 private:
  std::vector<E820Entry> entries_;
};

// The map for `memory`: RAM below the EBDA, reserved EBDA..1 MiB (with `acpi_tables`, its
// part from layout::kAcpiTablesStart is ACPI data instead), RAM from 1 MiB to
// min(end of RAM, 3 GiB), and RAM from 4 GiB for whatever lies above the MMIO gap. Ranges
// are clipped to the RAM that exists, and empty ones left out.
absl::StatusOr<E820Map> BuildE820Map(const GuestMemory& memory, bool acpi_tables = false);

// Copies `map` into params->e820_table / e820_entries.
void StoreE820Map(const E820Map& map, boot_params& params);

}  // namespace vmmd

#endif  // VMMD_BOOT_E820_H_
