// The boot layer's entry point against plain memory (no KVM).
#include "boot/configure_boot.h"

#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "boot/cmdline.h"
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
  const BytesImageReader initrd_reader(initrd);
  request.initrd = &initrd_reader;
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
  EXPECT_EQ(+params.hdr.header, kSetupHeaderMagic);
  EXPECT_EQ(+params.hdr.cmd_line_ptr, layout::kCmdlineStart);
  EXPECT_EQ(+params.hdr.ramdisk_image, info.initrd.value());
  EXPECT_EQ(+params.hdr.ramdisk_size, initrd.size());
  ASSERT_EQ(params.e820_entries, info.e820.size());
  for (size_t i = 0; i < info.e820.size(); ++i) {
    EXPECT_EQ(+params.e820_table[i].addr, info.e820[i].addr);
    EXPECT_EQ(+params.e820_table[i].size, info.e820[i].size);
    EXPECT_EQ(+params.e820_table[i].type, info.e820[i].type);
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
  request.cmdline = std::string(kElfKernelCmdlineLimit + 1, 'x');  // an ELF kernel: no header
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cmdline is 2048 bytes; the limit is 2047 bytes")));
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
  const BytesImageReader initrd_reader(initrd);
  request.initrd = &initrd_reader;
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
  const BytesImageReader initrd_reader(initrd);
  request.initrd = &initrd_reader;
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("initrd")));
}

TEST(WriteBootStructuresTest, InitrdOverlappingTheKernelIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  const std::vector<uint8_t> initrd(8 * kMiB, 0);
  BootRequest request;
  request.kernel_end = GuestAddress(60 * kMiB);  // a big kernel
  const BytesImageReader initrd_reader(initrd);
  request.initrd = &initrd_reader;
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("inside the kernel")));
}

TEST(WriteBootStructuresTest, MemoryTooSmallForTheStructuresIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(0x10000).value();
  EXPECT_THAT(WriteBootStructures(memory, BootRequest{}, 1),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

// PVH: hvm_start_info instead of the zero page, the 32-bit GDT, no page tables. Read back at
// the offsets of xen/include/public/arch-x86/hvm/start_info.h.
TEST(WriteBootStructuresTest, PvhWritesStartInfoAndNoZeroPageOrPageTables) {
  GuestMemory memory = GuestMemory::Create(256 * kMiB).value();
  const std::vector<uint8_t> initrd(2 * 4096 + 5, 0xcd);
  BootRequest request;
  request.protocol = BootProtocol::kPvh;
  request.entry_point = GuestAddress(0x1000abc);
  request.cmdline = "console=ttyS0";
  const BytesImageReader initrd_reader(initrd);
  request.initrd = &initrd_reader;
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, request, 2));

  EXPECT_EQ(info.protocol, BootProtocol::kPvh);
  EXPECT_EQ(info.entry_point, GuestAddress(0x1000abc));
  EXPECT_EQ(info.start_info, GuestAddress(0x6000));
  EXPECT_EQ(info.zero_page, GuestAddress(0));
  EXPECT_EQ(info.page_table_root, GuestAddress(0));
  EXPECT_EQ(info.identity_mapped_bytes, 0u);
  EXPECT_EQ(info.cmdline, GuestAddress(0x20000));
  EXPECT_EQ(info.initrd_size, initrd.size());
  ASSERT_EQ(info.e820.size(), 3u);

  auto read32 = [&](uint64_t address) { return memory.Read<uint32_t>(GuestAddress(address)).value(); };
  auto read64 = [&](uint64_t address) { return memory.Read<uint64_t>(GuestAddress(address)).value(); };
  EXPECT_EQ(read32(0x6000), 0x336ec578u);  // magic
  EXPECT_EQ(read32(0x6004), 1u);           // version
  EXPECT_EQ(read32(0x600c), 1u);           // nr_modules
  EXPECT_EQ(read64(0x6010), 0x6040u);      // modlist_paddr
  EXPECT_EQ(read64(0x6018), 0x20000u);     // cmdline_paddr
  EXPECT_EQ(read64(0x6028), 0x6100u);      // memmap_paddr
  EXPECT_EQ(read32(0x6030), info.e820.size());
  // The module is the initrd, where it was written.
  EXPECT_EQ(read64(0x6040), info.initrd.value());
  EXPECT_EQ(read64(0x6048), initrd.size());
  EXPECT_EQ(memory.Read<uint8_t>(info.initrd).value(), 0xcd);
  // The memory map is the e820 map.
  for (size_t i = 0; i < info.e820.size(); ++i) {
    EXPECT_EQ(read64(0x6100 + 24 * i), info.e820[i].addr) << i;
    EXPECT_EQ(read64(0x6108 + 24 * i), info.e820[i].size) << i;
    EXPECT_EQ(read32(0x6110 + 24 * i), info.e820[i].type) << i;
  }
  EXPECT_EQ(info.e820[2].addr + info.e820[2].size, 256 * kMiB);
  // The command line is where cmdline_paddr points.
  char cmdline[14];
  ASSERT_OK(memory.ReadBytes(GuestAddress(0x20000),
                             absl::MakeSpan(reinterpret_cast<uint8_t*>(cmdline), sizeof(cmdline))));
  EXPECT_STREQ(cmdline, "console=ttyS0");

  // The 32-bit GDT (kPvhGdt) and the empty IDT.
  EXPECT_EQ(read64(0x500), 0u);
  EXPECT_EQ(read64(0x508), 0x00cf9b000000ffffu);  // 32-bit flat code
  EXPECT_EQ(read64(0x510), 0x00cf93000000ffffu);  // flat data
  EXPECT_EQ(read64(0x518), 0x00008b0000000067u);  // 32-bit busy TSS, limit 0x67
  EXPECT_EQ(read64(0x520), 0u);

  // No zero page, no page tables: the pages stay as mapped, zero.
  std::vector<uint8_t> page(4096, 0xff);
  ASSERT_OK(memory.ReadBytes(GuestAddress(0x7000), absl::MakeSpan(page)));
  EXPECT_EQ(page, std::vector<uint8_t>(4096, 0)) << "zero page";
  for (uint64_t table = 0x9000; table < 0xf000; table += 0x1000) {
    ASSERT_OK(memory.ReadBytes(GuestAddress(table), absl::MakeSpan(page)));
    EXPECT_EQ(page, std::vector<uint8_t>(4096, 0)) << std::hex << table;
  }
  // The MP table is written for either protocol.
  EXPECT_EQ(read32(0x9fc00), 0x5f504d5fu);  // "_MP_"
}

TEST(WriteBootStructuresTest, Linux64WritesNoStartInfo) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, BootRequest{}, 1));
  EXPECT_EQ(info.start_info, GuestAddress(0));
  EXPECT_EQ(memory.Read<uint32_t>(GuestAddress(0x6000)).value(), 0u);
  EXPECT_EQ(memory.Read<uint64_t>(GuestAddress(0x508)).value(), 0x00af9b000000ffffu);
}

// A bzImage's header reaches the zero page with the loader's fields (boot.rst): the heap,
// the video mode, and the kernel's own cmdline_size.
TEST(WriteBootStructuresTest, BzImageHeaderGivesTheLoaderFields) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  setup_header header = {};
  header.boot_flag = 0xaa55;
  header.header = 0x53726448;
  header.version = 0x020f;
  header.loadflags = LOADED_HIGH;
  header.cmdline_size = 2047;
  header.initrd_addr_max = 0x7fffffff;
  header.vid_mode = 0;
  BootRequest request;
  request.kernel_header = header;
  request.cmdline = "root=/dev/vda";
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, request, 1));
  ASSERT_EQ(info.zero_page, GuestAddress(0x7000));

  auto read8 = [&](uint64_t offset) { return memory.Read<uint8_t>(GuestAddress(0x7000 + offset)).value(); };
  auto read16 = [&](uint64_t offset) { return memory.Read<uint16_t>(GuestAddress(0x7000 + offset)).value(); };
  auto read32 = [&](uint64_t offset) { return memory.Read<uint32_t>(GuestAddress(0x7000 + offset)).value(); };
  EXPECT_EQ(read16(0x206), 0x020f);                   // version, the kernel's
  EXPECT_EQ(read8(0x211), LOADED_HIGH | CAN_USE_HEAP);  // loadflags
  EXPECT_EQ(read16(0x224), 0xde00);                   // heap_end_ptr
  EXPECT_EQ(read16(0x1fa), 0xffff);                   // vid_mode "normal"
  EXPECT_EQ(read8(0x210), 0xff);                      // type_of_loader
  EXPECT_EQ(read32(0x238), 2047u);  // cmdline_size: the kernel's, not our 14 bytes
  EXPECT_EQ(read32(0x228), 0x20000u);                 // cmd_line_ptr
  EXPECT_EQ(read32(0x22c), 0x7fffffffu);              // initrd_addr_max, kept

  // Without a header (an ELF vmlinux) none of the loader fields are set.
  GuestMemory elf_memory = GuestMemory::Create(64 * kMiB).value();
  request.kernel_header.reset();
  ASSERT_OK(WriteBootStructures(elf_memory, request, 1).status());
  ASSERT_OK_AND_ASSIGN(boot_params params, elf_memory.Read<boot_params>(GuestAddress(0x7000)));
  EXPECT_EQ(+params.hdr.loadflags & CAN_USE_HEAP, 0);
  EXPECT_EQ(+params.hdr.heap_end_ptr, 0);
  EXPECT_EQ(+params.hdr.cmdline_size, request.cmdline.size() + 1);
}

// With ACPI: the tables at 0xe0000, RSDP first, each where BootInfo says and as long as its
// header says; the zero page points at the RSDP and e820 marks the range ACPI data.
TEST(WriteBootStructuresTest, AcpiTablesAreWrittenAndPointedAt) {
  GuestMemory memory = GuestMemory::Create(256 * kMiB).value();
  BootRequest request;
  request.acpi = true;
  request.acpi_devices = {{0xc0000000, 0x1000, 5}, {0xc0001000, 0x1000, 6}};
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, request, 3));

  EXPECT_EQ(info.acpi_rsdp, GuestAddress(layout::kAcpiTablesStart));
  std::vector<std::string> signatures;
  for (const acpi::TableInfo& table : info.acpi_tables) {
    signatures.push_back(table.signature);
    EXPECT_GE(table.address.value(), layout::kAcpiTablesStart);
    EXPECT_LE(table.address.value() + table.length, layout::kHighMemStart);
    std::vector<uint8_t> bytes(table.length);
    ASSERT_OK(memory.ReadBytes(table.address, absl::MakeSpan(bytes)));
    uint8_t sum = 0;
    for (uint8_t byte : bytes) sum = static_cast<uint8_t>(sum + byte);
    EXPECT_EQ(sum, 0) << table.signature << "'s checksum";
    if (table.signature == "RSDP") {
      EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "RSD PTR ");
    } else {
      EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), table.signature);
      EXPECT_EQ(memory.Read<uint32_t>(table.address.UncheckedAdd(4)).value(), table.length);
    }
  }
  EXPECT_THAT(signatures, ::testing::ElementsAre("RSDP", "DSDT", "FACP", "APIC", "XSDT"));

  ASSERT_OK_AND_ASSIGN(boot_params params, memory.Read<boot_params>(info.zero_page));
  EXPECT_EQ(+params.acpi_rsdp_addr, layout::kAcpiTablesStart);
  ASSERT_EQ(info.e820.size(), 4u);
  EXPECT_EQ(info.e820[2].addr, layout::kAcpiTablesStart);
  EXPECT_EQ(info.e820[2].type, kE820Acpi);
  // The MP table is still there.
  EXPECT_EQ(memory.Read<uint32_t>(GuestAddress(layout::kMpTableStart)).value(), 0x5f504d5fu);
}

TEST(WriteBootStructuresTest, PvhStartInfoPointsAtTheRsdp) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  BootRequest request;
  request.protocol = BootProtocol::kPvh;
  request.acpi = true;
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, request, 1));
  EXPECT_EQ(memory.Read<uint64_t>(GuestAddress(0x6020)).value(), layout::kAcpiTablesStart);  // rsdp_paddr
  EXPECT_EQ(info.acpi_rsdp, GuestAddress(layout::kAcpiTablesStart));
}

TEST(WriteBootStructuresTest, WithoutAcpiNothingPointsAtTables) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  ASSERT_OK_AND_ASSIGN(BootInfo info, WriteBootStructures(memory, BootRequest{}, 2));
  EXPECT_EQ(info.acpi_rsdp, GuestAddress(0));
  EXPECT_TRUE(info.acpi_tables.empty());
  ASSERT_OK_AND_ASSIGN(boot_params params, memory.Read<boot_params>(info.zero_page));
  EXPECT_EQ(+params.acpi_rsdp_addr, 0u);
  EXPECT_EQ(memory.Read<uint64_t>(GuestAddress(layout::kAcpiTablesStart)).value(), 0u);
  for (const E820Entry& entry : info.e820) EXPECT_NE(entry.type, kE820Acpi);
}

// A device the DSDT cannot describe is the request's error, and nothing points at tables.
TEST(WriteBootStructuresTest, AcpiDeviceBeyondTheIoapicIsInvalid) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  BootRequest request;
  request.acpi = true;
  request.acpi_devices = {{0xc0000000, 0x1000, 24}};
  EXPECT_THAT(WriteBootStructures(memory, request, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IRQ 24")));
}

}  // namespace
}  // namespace vmmd
