#include "boot/cmdline.h"

#include <string>

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

std::string ReadCString(const GuestMemory& memory, uint64_t address, size_t max) {
  std::string out;
  for (size_t i = 0; i < max; ++i) {
    char c = static_cast<char>(memory.Read<uint8_t>(GuestAddress(address + i)).value());
    if (c == '\0') return out;
    out.push_back(c);
  }
  return out + "<no NUL>";
}

class CmdlineTest : public ::testing::Test {
 protected:
  GuestMemory memory_ = GuestMemory::Create(1 << 20).value();
};

TEST_F(CmdlineTest, WritesTheLineAndItsNul) {
  ASSERT_OK(memory_.Fill(GuestAddress(layout::kCmdlineStart), 'x', 64));
  ASSERT_OK(WriteCmdline(memory_, "console=ttyS0 reboot=k"));
  EXPECT_EQ(ReadCString(memory_, layout::kCmdlineStart, 64), "console=ttyS0 reboot=k");
}

TEST_F(CmdlineTest, ExactlyAtTheLimitFits) {
  const std::string longest(layout::kCmdlineMaxSize - 1, 'a');
  ASSERT_OK(WriteCmdline(memory_, longest));
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(layout::kCmdlineStart + longest.size())).value(), 0);
}

TEST_F(CmdlineTest, TooLongIsRejectedNamingTheLimit) {
  const std::string too_long(layout::kCmdlineMaxSize, 'a');
  EXPECT_THAT(WriteCmdline(memory_, too_long),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cmdline is 65536 bytes; the limit is 65535 bytes")));
}

TEST_F(CmdlineTest, KernelCmdlineSizeLowersTheLimit) {
  EXPECT_OK(WriteCmdline(memory_, std::string(2048, 'a'), /*kernel_limit=*/2048));
  EXPECT_THAT(WriteCmdline(memory_, std::string(2049, 'a'), /*kernel_limit=*/2048),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kernel's cmdline_size")));
  EXPECT_EQ(CmdlineLimit(0), layout::kCmdlineMaxSize - 1);
  EXPECT_EQ(CmdlineLimit(UINT32_MAX), layout::kCmdlineMaxSize - 1);
}

TEST_F(CmdlineTest, EmbeddedNulIsRejected) {
  EXPECT_THAT(WriteCmdline(memory_, absl::string_view("a\0b", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
}

TEST(CmdlineMemoryTest, MemoryEndingInsideTheAreaIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(layout::kCmdlineStart + 0x1000).value();
  EXPECT_THAT(WriteCmdline(memory, std::string(0x1000, 'a')),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

}  // namespace
}  // namespace vmmd
