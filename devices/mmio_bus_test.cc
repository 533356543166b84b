#include "devices/mmio_bus.h"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// Reads answer `fill`; writes are recorded as {offset, first byte}.
class FakeWindow : public MmioDevice {
 public:
  explicit FakeWindow(uint8_t fill = 0) : fill_(fill) {}
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    for (uint8_t& byte : data) byte = fill_;
    read_offsets.push_back(offset);
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    writes.emplace_back(offset, data.empty() ? 0 : data[0]);
  }
  std::vector<uint64_t> read_offsets;
  std::vector<std::pair<uint64_t, uint8_t>> writes;

 private:
  uint8_t fill_;
};

TEST(MmioBusTest, DispatchesByWindowWithOffsets) {
  MmioBus bus;
  FakeWindow low(0x11), high(0x22);
  ASSERT_OK(bus.Register(0xd0000000, 0x1000, &low));
  ASSERT_OK(bus.Register(0xd0001000, 0x1000, &high));
  std::array<uint8_t, 4> data{};
  EXPECT_TRUE(bus.Read(0xd0000ffc, absl::MakeSpan(data)));
  EXPECT_THAT(data, ElementsAre(0x11, 0x11, 0x11, 0x11));
  EXPECT_TRUE(bus.Read(0xd0001000, absl::MakeSpan(data)));
  EXPECT_THAT(data, ElementsAre(0x22, 0x22, 0x22, 0x22));
  EXPECT_THAT(low.read_offsets, ElementsAre(0xffc));
  EXPECT_THAT(high.read_offsets, ElementsAre(0));
  const std::array<uint8_t, 1> value = {0x5a};
  EXPECT_TRUE(bus.Write(0xd0001070, value));
  EXPECT_THAT(high.writes, ElementsAre(std::make_pair(0x70, 0x5a)));
  EXPECT_EQ(bus.unhandled_reads() + bus.unhandled_writes(), 0u);
}

TEST(MmioBusTest, OutsideEveryWindowReadsOnesAndCounts) {
  MmioBus bus;
  FakeWindow window;
  ASSERT_OK(bus.Register(0xd0000000, 0x1000, &window));
  std::array<uint8_t, 2> data{};
  EXPECT_FALSE(bus.Read(0xd0001000, absl::MakeSpan(data)));  // one past the end
  EXPECT_THAT(data, ElementsAre(0xff, 0xff));
  EXPECT_FALSE(bus.Read(0xcfffffff, absl::MakeSpan(data)));  // one before the start
  const std::array<uint8_t, 1> value = {1};
  EXPECT_FALSE(bus.Write(0, value));
  EXPECT_EQ(bus.unhandled_reads(), 2u);
  EXPECT_EQ(bus.unhandled_writes(), 1u);
  EXPECT_TRUE(window.read_offsets.empty());
  EXPECT_TRUE(window.writes.empty());
}

TEST(MmioBusTest, RejectsOverlapsEmptyAndWrappingWindows) {
  MmioBus bus;
  FakeWindow a, b;
  ASSERT_OK(bus.Register(0xd0000000, 0x1000, &a));
  EXPECT_THAT(bus.Register(0xd0000fff, 0x1000, &b),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0xd0000000")));
  EXPECT_THAT(bus.Register(0xcffff000, 0x1001, &b), StatusIs(absl::StatusCode::kAlreadyExists, _));
  EXPECT_THAT(bus.Register(0xc0000000, 0x20000000, &b),
              StatusIs(absl::StatusCode::kAlreadyExists, _));
  EXPECT_THAT(bus.Register(0xd0000000, 0, &b), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(bus.Register(UINT64_MAX - 0xfff, 0x2000, &b),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(bus.Register(0xe0000000, 0x1000, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  // Touching on either side, and a window that ends at the top of the address space.
  EXPECT_OK(bus.Register(0xcffff000, 0x1000, &b));
  EXPECT_OK(bus.Register(0xd0001000, 0x1000, &b));
  EXPECT_OK(bus.Register(UINT64_MAX - 0xfff, 0x1000, &b));
  std::array<uint8_t, 1> data{};
  EXPECT_TRUE(bus.Read(UINT64_MAX, absl::MakeSpan(data)));
}

}  // namespace
}  // namespace vmmd
