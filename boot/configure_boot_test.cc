// The boot layer's entry point against plain memory (no KVM).
#include "boot/configure_boot.h"

#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "boot/zero_page.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;

TEST(WriteBootStructuresTest, ReportsWhatItWrote) {
  GuestMemory memory = GuestMemory::Create(256 * kMiB).value();
  const std::vector<uint8_t> initrd(3 * 4096 + 17, 0xab);
  BootRequest request;
  request.entry_point = GuestAddress(0x1000000);
  request.cmdline = "console=ttyS0 panic=1";
  request.initrd = initrd;
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, request, 4));

  EXPECT_EQ(info.entry_point, GuestAddress(0x1000000));
  EXPECT_EQ(info.zero_page, GuestAddress(layout::kZeroPageStart));
  EXPECT_EQ(info.cmdline, GuestAddress(layout::kCmdlineStart));
  EXPECT_EQ(info.cmdline_size, request.cmdline.size() + 1);
  EXPECT_EQ(info.mp_table, GuestAddress(layout::kMpTableStart));
  EXPECT_EQ(info.mp_table_size, 16 + 44 + 4 * 20 + 16 + 18 * 8u);
  EXPECT_EQ(info.page_table_root, GuestAddress(layout::kPml4Start));
  EXPECT_EQ(info.initrd_size, initrd.size());
  EXPECT_EQ(info.initrd.value(), (256 * kMiB - initrd.size()) & ~0xfffull);
  ASSERT_EQ(info.e820.size(), 3u);
  EXPECT_EQ(info.e820[2].addr + info.e820[2].size, 256 * kMiB);

  // The zero page in memory says the same.
  ASSERT_OK_AND_ASSIGN(boot_params params, memory.Read<boot_params>(info.zero_page));
  EXPECT_EQ(params.hdr.header, kSetupHeaderMagic);
  EXPECT_EQ(params.hdr.cmd_line_ptr, layout::kCmdlineStart);
  EXPECT_EQ(params.hdr.ramdisk_image, info.initrd.value());
  EXPECT_EQ(params.hdr.ramdisk_size, initrd.size());
  ASSERT_EQ(params.e820_entries, info.e820.size());
  for (size_t i = 0; i < info.e820.size(); ++i) {
    EXPECT_EQ(params.e820_table[i].addr, info.e820[i].addr);
    EXPECT_EQ(params.e820_table[i].size, info.e820[i].size);
    EXPECT_EQ(params.e820_table[i].type, info.e820[i].type);
  }
  // And the initrd bytes are where the zero page points.
  EXPECT_EQ(memory.Read<uint8_t>(info.initrd).value(), 0xab);
  EXPECT_EQ(memory.Read<uint8_t>(info.initrd.UncheckedAdd(initrd.size() - 1)).value(), 0xab);
}

TEST(WriteBootStructuresTest, RejectsBadVcpuCounts) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  BootRequest request;
  EXPECT_THAT(WriteBootStructures(memory, request, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vcpu_count 0")));
  EXPECT_THAT(WriteBootStructures(memory, request, 255),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vcpu_count 255")));
}

TEST(WriteBootStructuresTest, RejectsATooLongCmdline) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  BootRequest request;
  request.cmdline = std::string(layout::kCmdlineMaxSize, 'x');
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cmdline is 65536 bytes")));
}

TEST(WriteBootStructuresTest, KernelHeaderBoundsCmdlineAndInitrd) {
  GuestMemory memory = GuestMemory::Create(2048 * kMiB).value();
  setup_header header = {};
  header.boot_flag = kBootFlagMagic;
  header.header = kSetupHeaderMagic;
  header.cmdline_size = 255;
  header.initrd_addr_max = 0x37ffffff;
  const std::vector<uint8_t> initrd(4096, 1);
  BootRequest request;
  request.kernel_header = header;
  request.initrd = initrd;
  request.cmdline = std::string(255, 'c');
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, request, 1));
  EXPECT_EQ(info.initrd.value() + info.initrd_size, 0x38000000u);
  request.cmdline.push_back('c');
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is 255 bytes")));
}

TEST(WriteBootStructuresTest, InitrdThatDoesNotFitIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(40 * kMiB).value();
  const std::vector<uint8_t> initrd(16 * kMiB, 0);
  BootRequest request;
  request.initrd = initrd;
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("initrd")));
}

TEST(WriteBootStructuresTest, InitrdOverlappingTheKernelIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  const std::vector<uint8_t> initrd(8 * kMiB, 0);
  BootRequest request;
  request.kernel_end = GuestAddress(60 * kMiB);  // a big kernel
  request.initrd = initrd;
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("inside the kernel")));
}

TEST(WriteBootStructuresTest, MemoryTooSmallForTheStructuresIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(0x10000).value();
  EXPECT_THAT(WriteBootStructures(memory, BootRequest{}, 1),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

}  // namespace
}  // namespace vmmd
