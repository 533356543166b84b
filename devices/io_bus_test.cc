#include "devices/io_bus.h"

#include <array>
#include <cstdint>

#include "base/status_matchers.h"
#include "devices/fake_devices.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::RecordingDevice;
using ::vmmd::testing::StatusIs;

TEST(IoBusTest, RejectsOverlappingRanges) {
  IoBus bus;
  RecordingDevice a, b;
  ASSERT_OK(bus.Register(0x3f8, 8, &a));
  // Same start, overlapping from below, from above, enclosing, and enclosed.
  EXPECT_THAT(bus.Register(0x3f8, 1, &b),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3f8")));
  EXPECT_THAT(bus.Register(0x3f0, 9, &b), StatusIs(absl::StatusCode::kAlreadyExists, _));
  EXPECT_THAT(bus.Register(0x3ff, 4, &b), StatusIs(absl::StatusCode::kAlreadyExists, _));
  EXPECT_THAT(bus.Register(0x300, 0x200, &b), StatusIs(absl::StatusCode::kAlreadyExists, _));
  EXPECT_THAT(bus.Register(0x3fa, 2, &b), StatusIs(absl::StatusCode::kAlreadyExists, _));
  // Touching on either side is fine.
  EXPECT_OK(bus.Register(0x3f0, 8, &b));
  EXPECT_OK(bus.Register(0x400, 1, &b));
}

TEST(IoBusTest, RejectsEmptyAndWrappingRanges) {
  IoBus bus;
  RecordingDevice device;
  EXPECT_THAT(bus.Register(0x60, 0, &device), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(bus.Register(0xfff0, 0x11, &device),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0xffff")));
  EXPECT_THAT(bus.Register(0xffff, 0xffff, &device),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(bus.Register(0x60, 5, nullptr), StatusIs(absl::StatusCode::kInvalidArgument, _));
  // Nothing was registered by the failures.
  std::array<uint8_t, 1> data{};
  EXPECT_FALSE(bus.Read(0x60, absl::MakeSpan(data)));
  EXPECT_FALSE(bus.Read(0xfff0, absl::MakeSpan(data)));
}

TEST(IoBusTest, DispatchesWithOffsetFromBase) {
  IoBus bus;
  RecordingDevice low(0x11), high(0x22);
  ASSERT_OK(bus.Register(0x60, 5, &low));
  ASSERT_OK(bus.Register(0x3f8, 8, &high));

  std::array<uint8_t, 2> data{};
  EXPECT_TRUE(bus.Read(0x3fd, absl::MakeSpan(data)));
  EXPECT_THAT(data, ElementsAre(0x22, 0x22));
  const std::array<uint8_t, 4> value = {1, 2, 3, 4};
  EXPECT_TRUE(bus.Write(0x64, value));
  EXPECT_TRUE(bus.Write(0x60, absl::MakeConstSpan(value).first(1)));

  ASSERT_EQ(high.reads().size(), 1u);
  EXPECT_EQ(high.reads()[0].offset, 5);
  EXPECT_EQ(high.reads()[0].data.size(), 2u);
  ASSERT_EQ(low.writes().size(), 2u);
  EXPECT_EQ(low.writes()[0].offset, 4);
  EXPECT_THAT(low.writes()[0].data, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(low.writes()[1].offset, 0);
  EXPECT_THAT(low.writes()[1].data, ElementsAre(1));
  EXPECT_TRUE(low.reads().empty());
  EXPECT_TRUE(high.writes().empty());
  EXPECT_EQ(bus.unhandled_reads(), 0u);
  EXPECT_EQ(bus.unhandled_writes(), 0u);
}

TEST(IoBusTest, PortsJustOutsideARangeAreNotClaimed) {
  IoBus bus;
  RecordingDevice device;
  ASSERT_OK(bus.Register(0x3f8, 8, &device));
  std::array<uint8_t, 1> data{};
  EXPECT_FALSE(bus.Read(0x3f7, absl::MakeSpan(data)));
  EXPECT_FALSE(bus.Read(0x400, absl::MakeSpan(data)));
  EXPECT_TRUE(bus.Read(0x3ff, absl::MakeSpan(data)));
  EXPECT_EQ(bus.unhandled_reads(), 2u);
}

TEST(IoBusTest, RangeMayEndAtTheLastPort) {
  IoBus bus;
  RecordingDevice device, first;
  ASSERT_OK(bus.Register(0xff00, 0x100, &device));
  ASSERT_OK(bus.Register(0, 1, &first));
  std::array<uint8_t, 1> data = {0x5a};
  EXPECT_TRUE(bus.Write(0xffff, data));
  EXPECT_TRUE(bus.Write(0, data));
  ASSERT_EQ(device.writes().size(), 1u);
  EXPECT_EQ(device.writes()[0].offset, 0xff);
  ASSERT_EQ(first.writes().size(), 1u);
  EXPECT_EQ(first.writes()[0].offset, 0);
  // The longest range a uint16_t length allows, ending at the last port.
  IoBus whole;
  EXPECT_OK(whole.Register(0x0001, 0xffff, &device));
}

TEST(IoBusTest, UnknownPortReadsAllOnesAndIsCounted) {
  IoBus bus;
  std::array<uint8_t, 4> data = {1, 2, 3, 4};
  EXPECT_FALSE(bus.Read(0x80, absl::MakeSpan(data)));
  EXPECT_THAT(data, ElementsAre(0xff, 0xff, 0xff, 0xff));
  EXPECT_FALSE(bus.Read(0x81, absl::MakeSpan(data).first(1)));
  EXPECT_EQ(bus.unhandled_reads(), 2u);
  EXPECT_EQ(bus.unhandled_writes(), 0u);
}

TEST(IoBusTest, UnknownPortWriteIsCounted) {
  IoBus bus;
  RecordingDevice device;
  ASSERT_OK(bus.Register(0x3f8, 8, &device));
  const std::array<uint8_t, 1> data = {0x42};
  EXPECT_FALSE(bus.Write(0x80, data));
  EXPECT_FALSE(bus.Write(0x2f8, data));
  EXPECT_EQ(bus.unhandled_writes(), 2u);
  EXPECT_EQ(bus.unhandled_reads(), 0u);
  EXPECT_TRUE(device.writes().empty());
}

}  // namespace
}  // namespace vmmd
