#include "devices/test_exit.h"

#include <array>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class TestExitTest : public ::testing::Test {
 protected:
  TestExitTest() : device_([this](uint32_t code) { codes_.push_back(code); }) {}

  std::vector<uint32_t> codes_;
  TestExit device_;
};

TEST_F(TestExitTest, FourByteWriteIsTheExitCode) {
  const std::array<uint8_t, 4> value = {0x2a, 0, 0, 0};
  device_.Write(0, value);
  EXPECT_THAT(codes_, ElementsAre(42u));
}

TEST_F(TestExitTest, WideValuesAreLittleEndian) {
  const std::array<uint8_t, 4> value = {0x78, 0x56, 0x34, 0x12};
  device_.Write(0, value);
  device_.Write(0, absl::MakeConstSpan(value).first(2));
  EXPECT_THAT(codes_, ElementsAre(0x12345678u, 0x5678u));
}

TEST_F(TestExitTest, OneByteWriteIsZeroExtended) {
  const uint8_t value = 0xff;
  device_.Write(0, absl::MakeConstSpan(&value, 1));
  EXPECT_THAT(codes_, ElementsAre(0xffu));
}

TEST_F(TestExitTest, OddWritesAreIgnoredOrTruncated) {
  device_.Write(0, absl::Span<const uint8_t>());
  const std::array<uint8_t, 4> value = {1, 0, 0, 0};
  device_.Write(2, value);
  EXPECT_THAT(codes_, IsEmpty());
  const std::array<uint8_t, 8> too_long = {7, 0, 0, 0, 9, 9, 9, 9};
  device_.Write(0, too_long);
  EXPECT_THAT(codes_, ElementsAre(7u));
}

TEST_F(TestExitTest, ReadsReturnAllOnes) {
  std::array<uint8_t, 4> data = {1, 2, 3, 4};
  device_.Read(0, absl::MakeSpan(data));
  EXPECT_THAT(data, ElementsAre(0xff, 0xff, 0xff, 0xff));
  EXPECT_THAT(codes_, IsEmpty());
}

}  // namespace
}  // namespace vmmd
