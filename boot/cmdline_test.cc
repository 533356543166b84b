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

setup_header HeaderWithCmdlineSize(uint32_t cmdline_size) {
  setup_header header = {};
  header.cmdline_size = cmdline_size;
  return header;
}

// What an ELF kernel (no setup header) gets.
const CmdlineLimit kElf = KernelCmdlineLimit(std::nullopt);

TEST_F(CmdlineTest, WritesTheLineAndItsNul) {
  ASSERT_OK(memory_.Fill(GuestAddress(layout::kCmdlineStart), 'x', 64));
  ASSERT_OK(WriteCmdline(memory_, "console=ttyS0 reboot=k", kElf));
  EXPECT_EQ(ReadCString(memory_, layout::kCmdlineStart, 64), "console=ttyS0 reboot=k");
}

// Linux copies COMMAND_LINE_SIZE (2048) bytes from an ELF entry, NUL included: a 2048-byte
// line would lose its last byte in the guest, so it is refused.
TEST_F(CmdlineTest, ElfKernelsTakeWhatLinuxCopies) {
  EXPECT_EQ(kElf.bytes, 2047u);
  const std::string longest(2047, 'a');
  ASSERT_OK(WriteCmdline(memory_, longest, kElf));
  EXPECT_EQ(ReadCString(memory_, layout::kCmdlineStart, 4096), longest);
  EXPECT_THAT(WriteCmdline(memory_, std::string(2048, 'a'), kElf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cmdline is 2048 bytes; the limit is 2047 bytes (x86 Linux's "
                                 "COMMAND_LINE_SIZE for ELF kernels")));
}

TEST_F(CmdlineTest, BzImageTakesItsHeadersCmdlineSize) {
  const CmdlineLimit limit = KernelCmdlineLimit(HeaderWithCmdlineSize(4095));
  EXPECT_EQ(limit.bytes, 4095u);
  EXPECT_OK(WriteCmdline(memory_, std::string(4095, 'a'), limit));
  EXPECT_THAT(WriteCmdline(memory_, std::string(4096, 'a'), limit),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the limit is 4095 bytes (the kernel's cmdline_size)")));
}

TEST_F(CmdlineTest, HeaderWithoutCmdlineSizeGetsTheLegacy255) {
  const CmdlineLimit limit = KernelCmdlineLimit(HeaderWithCmdlineSize(0));
  EXPECT_EQ(limit.bytes, 255u);
  EXPECT_THAT(WriteCmdline(memory_, std::string(256, 'a'), limit),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is 255 bytes")));
}

TEST_F(CmdlineTest, AHugeCmdlineSizeIsCappedByTheRoomInGuestMemory) {
  const CmdlineLimit limit = KernelCmdlineLimit(HeaderWithCmdlineSize(UINT32_MAX));
  EXPECT_EQ(limit.bytes, layout::kCmdlineMaxSize - 1);
  const std::string longest(layout::kCmdlineMaxSize - 1, 'a');
  ASSERT_OK(WriteCmdline(memory_, longest, limit));
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(layout::kCmdlineStart + longest.size())).value(), 0);
  EXPECT_THAT(WriteCmdline(memory_, longest + "a", limit),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cmdline is 65536 bytes; the limit is 65535 bytes")));
}

TEST_F(CmdlineTest, EmbeddedNulIsRejected) {
  EXPECT_THAT(WriteCmdline(memory_, absl::string_view("a\0b", 3), kElf),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
}

TEST(CmdlineMemoryTest, MemoryEndingInsideTheAreaIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(layout::kCmdlineStart + 0x1000).value();
  EXPECT_THAT(WriteCmdline(memory, std::string(0x1800, 'a'),
                           KernelCmdlineLimit(HeaderWithCmdlineSize(0x2000))),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

}  // namespace
}  // namespace vmmd
