#include "boot/page_tables.h"

#include <array>

#include "boot/layout.h"
#include "base/status_macros.h"

namespace vmmd {
namespace {

constexpr uint64_t kEntriesPerTable = 512;
constexpr uint64_t kTwoMiB = uint64_t{2} << 20;
constexpr uint64_t kOneGiB = uint64_t{1} << 30;
constexpr uint64_t kTableFlags = kPtePresent | kPteWritable;
static_assert(layout::kPdCount * kOneGiB == kIdentityMappedBytes);

using Table = std::array<uint64_t, kEntriesPerTable>;

}  // namespace

absl::StatusOr<GuestAddress> WriteIdentityPageTables(GuestMemory& memory) {
  // Built on the host, then written once per table.
  Table pml4{};
  pml4[0] = layout::kPdptStart | kTableFlags;  // covers [0, 512 GiB)
  RETURN_IF_ERROR(memory.Write(GuestAddress(layout::kPml4Start), pml4));

  Table pdpt{};
  for (uint64_t gib = 0; gib < layout::kPdCount; ++gib) {
    pdpt[gib] = (layout::kPdStart + gib * layout::kPageSize) | kTableFlags;  // [gib, gib+1) GiB
  }
  RETURN_IF_ERROR(memory.Write(GuestAddress(layout::kPdptStart), pdpt));

  for (uint64_t gib = 0; gib < layout::kPdCount; ++gib) {
    Table pd{};
    for (uint64_t i = 0; i < kEntriesPerTable; ++i) {
      pd[i] = (gib * kOneGiB + i * kTwoMiB) | kTableFlags | kPtePageSize;
    }
    RETURN_IF_ERROR(memory.Write(GuestAddress(layout::kPdStart + gib * layout::kPageSize), pd));
  }
  return GuestAddress(layout::kPml4Start);
}

}  // namespace vmmd
