#include "kvm/guest_memory.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_format.h"

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(GuestMemoryTest, RejectsBadSizes) {
  EXPECT_THAT(GuestMemory::Create(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 KiB")));
  EXPECT_THAT(GuestMemory::Create(4095), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(GuestMemory::Create(GuestMemory::kMaxSize + 4096),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most")));
}

TEST(GuestMemoryTest, SmallMemoryIsOneRegionAtZero) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(128 * kMiB));
  ASSERT_EQ(memory.regions().size(), 1u);
  EXPECT_EQ(memory.regions()[0].start, GuestAddress(0));
  EXPECT_EQ(memory.regions()[0].size, 128 * kMiB);
}

TEST(GuestMemoryTest, ExactlyThreeGiBStaysBelowTheGap) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(3 * kGiB));
  ASSERT_EQ(memory.regions().size(), 1u);
  EXPECT_EQ(memory.regions()[0].end(), GuestAddress(kMmioGapStart));
}

TEST(GuestMemoryTest, RamAboveThreeGiBContinuesAtFourGiB) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(3 * kGiB + 4096));
  ASSERT_EQ(memory.regions().size(), 2u);
  EXPECT_EQ(memory.regions()[0].size, 3 * kGiB);
  EXPECT_EQ(memory.regions()[1].start, GuestAddress(4 * kGiB));
  EXPECT_EQ(memory.regions()[1].size, 4096u);
  // The gap itself is not RAM.
  EXPECT_FALSE(memory.Contains(GuestAddress(kMmioGapStart), 1));
  EXPECT_FALSE(memory.Contains(GuestAddress(kMmioGapEnd - 1), 1));
  EXPECT_TRUE(memory.Contains(GuestAddress(4 * kGiB), 4096));
  EXPECT_FALSE(memory.Contains(GuestAddress(4 * kGiB), 4097));
}

// The smaps fields ("Size", "THPeligible", "VmFlags", ...) of the mapping that starts at
// `host`, each value with its spacing collapsed ("3145728 kB"); empty if no mapping starts there.
std::map<std::string, std::string> SmapsOf(const uint8_t* host) {
  std::ifstream smaps("/proc/self/smaps");
  const std::string start = absl::StrFormat("%x-", reinterpret_cast<uintptr_t>(host));
  std::map<std::string, std::string> fields;
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.find('-') != std::string::npos) {  // a mapping's header: "start-end perms ..."
      if (inside) break;
      inside = first.rfind(start, 0) == 0;
    } else if (inside && !first.empty() && first.back() == ':') {
      std::istringstream words(line.substr(first.size()));
      std::string word, value;
      while (words >> word) value += (value.empty() ? "" : " ") + word;
      fields[first.substr(0, first.size() - 1)] = value;
    }
  }
  return fields;
}

std::string TransparentHugePageMode() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(file, modes);
  const size_t open = modes.find('['), close = modes.find(']');
  return open == std::string::npos || close == std::string::npos ? "never" : modes.substr(open + 1, close - open - 1);
}

TEST(GuestMemoryTest, TransparentHugePagesAlignEachRegionAndAskForThem) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory,
                       GuestMemory::Create(3 * kGiB + 6 * kMiB, GuestMemory::HugePages::kTransparent));
  ASSERT_EQ(memory.regions().size(), 2u);
  for (const GuestMemoryRegion& region : memory.regions()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(region.host) % GuestMemory::kHugePageSize, 0u);
    std::map<std::string, std::string> smaps = SmapsOf(region.host);
    // "hg": madvise(MADV_HUGEPAGE) was given.
    EXPECT_THAT(" " + smaps["VmFlags"] + " ", HasSubstr(" hg "));
    // The whole region is one mapping: the slack around it is gone.
    EXPECT_EQ(smaps["Size"], absl::StrFormat("%d kB", region.size / 1024));
    if (TransparentHugePageMode() != "never") EXPECT_EQ(smaps["THPeligible"], "1");
  }
  ASSERT_OK(memory.Fill(GuestAddress(0), 0xAB, 4 * kMiB));
  ASSERT_OK_AND_ASSIGN(uint8_t byte, memory.Read<uint8_t>(GuestAddress(4 * kMiB - 1)));
  EXPECT_EQ(byte, 0xAB);
}

TEST(GuestMemoryTest, WithoutHugePagesNoAdviceIsGiven) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(8 * kMiB));
  std::map<std::string, std::string> smaps = SmapsOf(memory.low_region().host);
  ASSERT_FALSE(smaps.empty());
  EXPECT_THAT(" " + smaps["VmFlags"] + " ", Not(HasSubstr(" hg ")));
}

TEST(GuestMemoryTest, WriteThenReadRoundTrips) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(64 * 1024));
  ASSERT_OK(memory.Write<uint64_t>(GuestAddress(0x1000), 0x1122334455667788));
  ASSERT_OK_AND_ASSIGN(uint64_t value, memory.Read<uint64_t>(GuestAddress(0x1000)));
  EXPECT_EQ(value, 0x1122334455667788u);
  ASSERT_OK_AND_ASSIGN(uint8_t low_byte, memory.Read<uint8_t>(GuestAddress(0x1000)));
  EXPECT_EQ(low_byte, 0x88);  // little-endian, as the guest sees it
}

TEST(GuestMemoryTest, ExactFitAtTheEndSucceeds) {
  constexpr uint64_t kSize = 64 * 1024;
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kSize));
  EXPECT_OK(memory.Write<uint64_t>(GuestAddress(kSize - 8), 1));
  std::array<uint8_t, 16> bytes{};
  EXPECT_OK(memory.WriteBytes(GuestAddress(kSize - bytes.size()), bytes));
  EXPECT_OK(memory.WriteBytes(GuestAddress(kSize), {}));  // empty range at the very end
}

TEST(GuestMemoryTest, OneByteShortIsOutOfRange) {
  constexpr uint64_t kSize = 64 * 1024;
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kSize));
  EXPECT_THAT(memory.Write<uint64_t>(GuestAddress(kSize - 7), 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("not inside guest RAM")));
  EXPECT_THAT(memory.Read<uint32_t>(GuestAddress(kSize - 3)),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

TEST(GuestMemoryTest, WrapAroundIsOutOfRange) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(64 * 1024));
  EXPECT_THAT(memory.Write<uint64_t>(GuestAddress(UINT64_MAX - 3), 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("wraps")));
  EXPECT_THAT(memory.Fill(GuestAddress(16), 0, UINT64_MAX),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("wraps")));
  EXPECT_FALSE(GuestAddress(UINT64_MAX).CheckedAdd(1).has_value());
  EXPECT_EQ(GuestAddress(1).CheckedAdd(2), GuestAddress(3));
}

TEST(GuestMemoryTest, AccessAcrossTheGapIsRejected) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(3 * kGiB + 8192));
  EXPECT_THAT(memory.Write<uint64_t>(GuestAddress(kMmioGapStart - 4), 0),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

TEST(GuestMemoryTest, HostSpanIsTheGuestBytesInPlace) {
  constexpr uint64_t kSize = 64 * 1024;
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kSize));
  ASSERT_OK_AND_ASSIGN(absl::Span<uint8_t> span, memory.HostSpan(GuestAddress(0x1000), 8));
  ASSERT_EQ(span.size(), 8u);
  span[0] = 0x5a;  // a store through the span is what the guest reads, and back
  ASSERT_OK_AND_ASSIGN(uint8_t byte, memory.Read<uint8_t>(GuestAddress(0x1000)));
  EXPECT_EQ(byte, 0x5a);
  ASSERT_OK(memory.Write<uint8_t>(GuestAddress(0x1007), 0xa5));
  EXPECT_EQ(span[7], 0xa5);
  // Exact fit at the end, and an empty span there; one byte more is out of range.
  EXPECT_OK(memory.HostSpan(GuestAddress(kSize - 16), 16));
  EXPECT_OK(memory.HostSpan(GuestAddress(kSize), 0));
  EXPECT_THAT(memory.HostSpan(GuestAddress(kSize - 16), 17),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("not inside guest RAM")));
  EXPECT_THAT(memory.HostSpan(GuestAddress(UINT64_MAX - 3), 8),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("wraps")));
}

TEST(GuestMemoryTest, HostSpanStaysInOneRegion) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(3 * kGiB + 8192));
  ASSERT_OK_AND_ASSIGN(absl::Span<uint8_t> high, memory.HostSpan(GuestAddress(kMmioGapEnd), 8192));
  EXPECT_EQ(high.data(), memory.regions()[1].host);
  EXPECT_THAT(memory.HostSpan(GuestAddress(kMmioGapStart - 4096), 8192),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

TEST(GuestMemoryTest, MoveTransfersTheMapping) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(8192));
  ASSERT_OK(memory.Write<uint32_t>(GuestAddress(4), 0xabcd));
  GuestMemory moved = std::move(memory);
  EXPECT_EQ(memory.regions().size(), 0u);
  EXPECT_THAT(memory.Read<uint32_t>(GuestAddress(4)), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  ASSERT_OK_AND_ASSIGN(uint32_t value, moved.Read<uint32_t>(GuestAddress(4)));
  EXPECT_EQ(value, 0xabcdu);
}

}  // namespace
}  // namespace vmmd
