#include "boot/e820.h"

#include <vector>

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

struct Range {
  uint64_t address;
  uint64_t size;
  uint32_t type;
  bool operator==(const Range& other) const {
    return address == other.address && size == other.size && type == other.type;
  }
};

std::ostream& operator<<(std::ostream& os, const Range& range) {
  return os << std::hex << "[0x" << range.address << " +0x" << range.size << " type "
            << range.type << "]";
}

std::vector<Range> MapFor(uint64_t memory_size, bool acpi_tables = false) {
  GuestMemory memory = GuestMemory::Create(memory_size).value();
  E820Map map = BuildE820Map(memory, acpi_tables).value();
  std::vector<Range> ranges;
  for (const E820Entry& entry : map.entries()) {
    ranges.push_back({entry.addr, entry.size, entry.type});
  }
  return ranges;
}

// dbs-boot test_add_e820_entry.
TEST(E820Test, AddStoresTheEntry) {
  E820Map map;
  ASSERT_OK(map.Add(0x1, 4, kE820Ram));
  ASSERT_EQ(map.entries().size(), 1u);
  EXPECT_EQ(map.entries()[0].addr, 0x1u);
  EXPECT_EQ(map.entries()[0].size, 4u);
  EXPECT_EQ(map.entries()[0].type, kE820Ram);
  boot_params params = {};
  StoreE820Map(map, params);
  EXPECT_EQ(params.e820_entries, 1);
  EXPECT_EQ(+params.e820_table[0].addr, 0x1u);
}

// dbs-boot test_add_e820_entry's overflow case: the zero page's 128 slots are the limit.
TEST(E820Test, AddBeyondCapacityIsRejected) {
  E820Map map;
  for (uint64_t i = 0; i < E820Map::kCapacity; ++i) ASSERT_OK(map.Add(i * 0x1000, 0x1000, kE820Ram));
  EXPECT_THAT(map.Add(0x1000000, 0x1000, kE820Ram),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("128")));
  EXPECT_EQ(map.entries().size(), 128u);
}

TEST(E820Test, EmptyOrWrappingRangeIsRejected) {
  E820Map map;
  EXPECT_THAT(map.Add(0, 0, kE820Ram), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(map.Add(UINT64_MAX - 10, 20, kE820Ram),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wraps")));
}

TEST(E820Test, OneMiB) {
  EXPECT_THAT(MapFor(1 * kMiB), ::testing::ElementsAre(Range{0, 0x9fc00, kE820Ram},
                                                        Range{0x9fc00, 0x60400, kE820Reserved}));
}

TEST(E820Test, OneHundredTwentyEightMiB) {
  EXPECT_THAT(MapFor(128 * kMiB),
              ::testing::ElementsAre(Range{0, 0x9fc00, kE820Ram},
                                     Range{0x9fc00, 0x60400, kE820Reserved},
                                     Range{0x100000, 128 * kMiB - 0x100000, kE820Ram}));
}

// The ACPI tables' range, from 0xe0000 to 1 MiB, becomes ACPI data; the rest stays reserved.
TEST(E820Test, AcpiTablesAreAcpiData) {
  EXPECT_THAT(MapFor(128 * kMiB, /*acpi_tables=*/true),
              ::testing::ElementsAre(Range{0, 0x9fc00, kE820Ram},
                                     Range{0x9fc00, 0xe0000 - 0x9fc00, kE820Reserved},
                                     Range{0xe0000, 0x20000, kE820Acpi},
                                     Range{0x100000, 128 * kMiB - 0x100000, kE820Ram}));
}

TEST(E820Test, ExactlyThreeGiB) {
  EXPECT_THAT(MapFor(3 * kGiB),
              ::testing::ElementsAre(Range{0, 0x9fc00, kE820Ram},
                                     Range{0x9fc00, 0x60400, kE820Reserved},
                                     Range{0x100000, 3 * kGiB - 0x100000, kE820Ram}));
}

TEST(E820Test, ThreeGiBAndOnePageContinuesAtFourGiB) {
  EXPECT_THAT(MapFor(3 * kGiB + 4096),
              ::testing::ElementsAre(Range{0, 0x9fc00, kE820Ram},
                                     Range{0x9fc00, 0x60400, kE820Reserved},
                                     Range{0x100000, 3 * kGiB - 0x100000, kE820Ram},
                                     Range{4 * kGiB, 4096, kE820Ram}));
}

TEST(E820Test, EightGiBLeavesTheMmioGapOut) {
  const std::vector<Range> ranges = MapFor(8 * kGiB);
  EXPECT_THAT(ranges, ::testing::ElementsAre(Range{0, 0x9fc00, kE820Ram},
                                             Range{0x9fc00, 0x60400, kE820Reserved},
                                             Range{0x100000, 3 * kGiB - 0x100000, kE820Ram},
                                             Range{4 * kGiB, 5 * kGiB, kE820Ram}));
  uint64_t ram = 0;
  for (const Range& range : ranges) {
    if (range.type == kE820Ram) ram += range.size;
    EXPECT_FALSE(range.address < kMmioGapEnd && range.address + range.size > kMmioGapStart)
        << range;
  }
  // All RAM is listed except the reserved EBDA..1 MiB window.
  EXPECT_EQ(ram, 8 * kGiB - 0x60400);
}

TEST(E820Test, MemorySmallerThanConventionalIsClipped) {
  EXPECT_THAT(MapFor(0x10000), ::testing::ElementsAre(Range{0, 0x10000, kE820Ram}));
}

}  // namespace
}  // namespace vmmd
