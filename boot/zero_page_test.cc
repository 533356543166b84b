#include "boot/zero_page.h"

#include <cstddef>

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

// dbs-boot test_write_boot_param: the header fields hold what is set.
TEST(ZeroPageTest, SeedHeaderFields) {
  boot_params params = BuildZeroPage({});
  EXPECT_EQ(+params.hdr.type_of_loader, 0xff);
  EXPECT_EQ(+params.hdr.boot_flag, 0xaa55);
  EXPECT_EQ(+params.hdr.header, 0x53726448u);
  EXPECT_EQ(+params.hdr.kernel_alignment, 0x01000000u);
}

// The kernel reads these at fixed offsets (Documentation/arch/x86/zero-page.rst).
TEST(ZeroPageTest, FieldsSitAtTheDocumentedOffsets) {
  EXPECT_EQ(sizeof(boot_params), 4096u);
  EXPECT_EQ(offsetof(boot_params, e820_entries), 0x1e8u);
  EXPECT_EQ(offsetof(boot_params, hdr), 0x1f1u);
  EXPECT_EQ(offsetof(boot_params, hdr.boot_flag), 0x1feu);
  EXPECT_EQ(offsetof(boot_params, hdr.header), 0x202u);
  EXPECT_EQ(offsetof(boot_params, hdr.type_of_loader), 0x210u);
  EXPECT_EQ(offsetof(boot_params, hdr.ramdisk_image), 0x218u);
  EXPECT_EQ(offsetof(boot_params, hdr.cmd_line_ptr), 0x228u);
  EXPECT_EQ(offsetof(boot_params, hdr.cmdline_size), 0x238u);
  EXPECT_EQ(offsetof(boot_params, e820_table), 0x2d0u);
}

TEST(ZeroPageTest, CarriesCmdlineInitrdAndE820) {
  E820Map e820;
  ASSERT_OK(e820.Add(0, 0x9fc00, kE820Ram));
  ASSERT_OK(e820.Add(0x100000, 0x7f00000, kE820Ram));
  ZeroPageContents contents;
  contents.cmdline = GuestAddress(layout::kCmdlineStart);
  contents.cmdline_size = 23;
  contents.initrd = GuestAddress(0x7000000);
  contents.initrd_size = 0x123456;
  contents.e820 = &e820;
  const boot_params params = BuildZeroPage(contents);
  EXPECT_EQ(+params.hdr.cmd_line_ptr, layout::kCmdlineStart);
  EXPECT_EQ(params.ext_cmd_line_ptr, 0u);
  EXPECT_EQ(+params.hdr.cmdline_size, 23u);
  EXPECT_EQ(+params.hdr.ramdisk_image, 0x7000000u);
  EXPECT_EQ(+params.hdr.ramdisk_size, 0x123456u);
  EXPECT_EQ(params.e820_entries, 2);
  EXPECT_EQ(+params.e820_table[1].addr, 0x100000u);
  EXPECT_EQ(+params.e820_table[1].size, 0x7f00000u);
}

TEST(ZeroPageTest, KernelHeaderIsKeptButLoaderFieldsAreOurs) {
  setup_header header = {};
  header.boot_flag = 0xaa55;
  header.header = 0x53726448;
  header.version = 0x020f;
  header.cmdline_size = 2047;
  header.kernel_alignment = 0x200000;
  header.type_of_loader = 0x12;
  ZeroPageContents contents;
  contents.kernel_header = header;
  contents.cmdline = GuestAddress(layout::kCmdlineStart);
  contents.cmdline_size = 10;
  const boot_params params = BuildZeroPage(contents);
  EXPECT_EQ(+params.hdr.version, 0x020f);
  EXPECT_EQ(+params.hdr.kernel_alignment, 0x200000u);
  EXPECT_EQ(+params.hdr.cmdline_size, 2047u);  // the kernel's, not ours
  EXPECT_EQ(+params.hdr.type_of_loader, 0xff);
  EXPECT_EQ(+params.hdr.ramdisk_image, 0u);
}

TEST(ZeroPageTest, WrittenAtTheLayoutAddress) {
  GuestMemory memory = GuestMemory::Create(0x10000).value();
  ASSERT_OK(WriteZeroPage(memory, BuildZeroPage({})));
  EXPECT_EQ(memory.Read<uint32_t>(GuestAddress(layout::kZeroPageStart + 0x202)).value(),
            kSetupHeaderMagic);
  GuestMemory tiny = GuestMemory::Create(0x7000).value();
  EXPECT_FALSE(WriteZeroPage(tiny, BuildZeroPage({})).ok());
}

}  // namespace
}  // namespace vmmd
