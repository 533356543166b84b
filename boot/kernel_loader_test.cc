// Kernel format dispatch and boot protocol choice, against ELF and bzImage images built here.
#include "boot/kernel_loader.h"

#include <asm/bootparam.h>
#include <elf.h>

#include <cstring>
#include <optional>
#include <vector>

#include "base/status_matchers.h"
#include "boot/test_elf_header.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kKernel = 0x1000000;
constexpr uint64_t kPvhEntry = 0x1000040;

void Append(std::vector<uint8_t>& to, const void* bytes, size_t size) {
  const uint8_t* begin = static_cast<const uint8_t*>(bytes);
  to.insert(to.end(), begin, begin + size);
}

// The PVH entry note: Elf64_Nhdr{4, 4, 18}, "Xen\0", the 32-bit entry.
std::vector<uint8_t> PvhNote(uint32_t entry) {
  std::vector<uint8_t> note;
  const uint32_t words[3] = {4, 4, 18};
  Append(note, words, sizeof(words));
  Append(note, "Xen", 4);
  Append(note, &entry, 4);
  return note;
}

// An ELF64 vmlinux-like image: one PT_LOAD of 0x100 bytes at 16 MiB, entry at its start,
// and optionally a PT_NOTE segment holding the PVH entry note.
std::vector<uint8_t> BuildElf(std::optional<uint32_t> pvh_entry) {
  const int phnum = pvh_entry ? 2 : 1;
  std::vector<uint8_t> image(sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr));
  Elf64_Ehdr header = ::vmmd::testing::X86_64ExecutableHeader(kKernel, static_cast<uint16_t>(phnum));
  std::memcpy(image.data(), &header, sizeof(header));

  Elf64_Phdr load = {};
  load.p_type = PT_LOAD;
  load.p_offset = image.size();
  load.p_paddr = load.p_vaddr = kKernel;
  load.p_filesz = load.p_memsz = 0x100;
  image.resize(image.size() + 0x100, 0xc3);
  std::memcpy(image.data() + sizeof(Elf64_Ehdr), &load, sizeof(load));
  if (pvh_entry) {
    const std::vector<uint8_t> note = PvhNote(*pvh_entry);
    Elf64_Phdr notes = {};
    notes.p_type = PT_NOTE;
    notes.p_offset = image.size();
    notes.p_filesz = note.size();
    notes.p_align = 4;
    image.insert(image.end(), note.begin(), note.end());
    std::memcpy(image.data() + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), &notes, sizeof(notes));
  }
  return image;
}

// A minimal valid bzImage (boot.rst): 4 setup sectors, then 0x400 bytes of 64-bit code.
std::vector<uint8_t> BuildBzImage() {
  setup_header header = {};
  header.setup_sects = 4;
  header.boot_flag = 0xaa55;
  header.jump = 0xeb | ((0x26c - 0x202) << 8);
  header.header = 0x53726448;
  header.version = 0x020f;
  header.loadflags = LOADED_HIGH;
  header.xloadflags = XLF_KERNEL_64;
  header.relocatable_kernel = 1;
  header.pref_address = kKernel;
  header.init_size = 0x400000;
  header.cmdline_size = 2047;
  std::vector<uint8_t> image(5 * 512, 0);
  std::memcpy(image.data() + 0x1f1, &header, sizeof(header));
  image.resize(image.size() + 0x400, 0x48);
  return image;
}

TEST(ParseBootProtocolTest, KnowsTheThreeNames) {
  EXPECT_EQ(ParseBootProtocol("").value(), BootProtocolChoice::kAuto);
  EXPECT_EQ(ParseBootProtocol("auto").value(), BootProtocolChoice::kAuto);
  EXPECT_EQ(ParseBootProtocol("linux64").value(), BootProtocolChoice::kLinux64);
  EXPECT_EQ(ParseBootProtocol("pvh").value(), BootProtocolChoice::kPvh);
  EXPECT_THAT(ParseBootProtocol("PVH"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 HasSubstr("boot_protocol \"PVH\"")));
  EXPECT_THAT(ParseBootProtocol("linux"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("boot_protocol")));
  EXPECT_STREQ(BootProtocolName(BootProtocol::kPvh), "pvh");
  EXPECT_STREQ(BootProtocolName(BootProtocol::kLinux64), "linux64");
}

class LoadKernelTest : public ::testing::Test {
 protected:
  absl::StatusOr<KernelImage> Load(const std::vector<uint8_t>& image, BootProtocolChoice choice) {
    return LoadKernel(BytesImageReader(image), memory_, choice);
  }
  uint8_t ReadByte(uint64_t address) { return memory_.Read<uint8_t>(GuestAddress(address)).value(); }

  GuestMemory memory_ = GuestMemory::Create(64 * kMiB).value();
};

TEST_F(LoadKernelTest, ElfWithoutPvhNoteBootsLinux64) {
  const std::vector<uint8_t> image = BuildElf(std::nullopt);
  ASSERT_OK_AND_ASSIGN(KernelImage kernel, Load(image, BootProtocolChoice::kAuto));
  EXPECT_EQ(kernel.format, "elf");
  EXPECT_EQ(kernel.protocol, BootProtocol::kLinux64);
  EXPECT_EQ(kernel.entry_point, GuestAddress(kKernel));
  EXPECT_EQ(kernel.start, GuestAddress(kKernel));
  EXPECT_EQ(kernel.end, GuestAddress(kKernel + 0x100));
  EXPECT_FALSE(+kernel.header.has_value());
  EXPECT_EQ(ReadByte(kKernel), 0xc3);

  ASSERT_OK_AND_ASSIGN(kernel, Load(image, BootProtocolChoice::kLinux64));
  EXPECT_EQ(kernel.protocol, BootProtocol::kLinux64);
  EXPECT_THAT(Load(image, BootProtocolChoice::kPvh),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PVH entry")));
}

TEST_F(LoadKernelTest, ElfWithPvhNoteBootsPvhUnlessLinux64IsAsked) {
  const std::vector<uint8_t> image = BuildElf(kPvhEntry);
  ASSERT_OK_AND_ASSIGN(KernelImage kernel, Load(image, BootProtocolChoice::kAuto));
  EXPECT_EQ(kernel.format, "elf");
  EXPECT_EQ(kernel.protocol, BootProtocol::kPvh);
  EXPECT_EQ(kernel.entry_point, GuestAddress(kPvhEntry));
  EXPECT_EQ(kernel.end, GuestAddress(kKernel + 0x100));

  ASSERT_OK_AND_ASSIGN(kernel, Load(image, BootProtocolChoice::kPvh));
  EXPECT_EQ(kernel.protocol, BootProtocol::kPvh);
  EXPECT_EQ(kernel.entry_point, GuestAddress(kPvhEntry));

  ASSERT_OK_AND_ASSIGN(kernel, Load(image, BootProtocolChoice::kLinux64));
  EXPECT_EQ(kernel.protocol, BootProtocol::kLinux64);
  EXPECT_EQ(kernel.entry_point, GuestAddress(kKernel)) << "e_entry, not the note";
}

TEST_F(LoadKernelTest, PvhEntryOutsideRamIsRejected) {
  const std::vector<uint8_t> image = BuildElf(64 * kMiB);  // one past the end of RAM
  EXPECT_THAT(Load(image, BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not in guest RAM")));
  // The last byte of RAM is in it.
  EXPECT_OK(Load(BuildElf(64 * kMiB - 1), BootProtocolChoice::kAuto).status());
  // linux64 does not look at the note's value.
  EXPECT_OK(Load(image, BootProtocolChoice::kLinux64).status());
}

TEST_F(LoadKernelTest, BzImageBootsLinux64WithItsHeader) {
  const std::vector<uint8_t> image = BuildBzImage();
  ASSERT_OK_AND_ASSIGN(KernelImage kernel, Load(image, BootProtocolChoice::kAuto));
  EXPECT_EQ(kernel.format, "bzimage");
  EXPECT_EQ(kernel.protocol, BootProtocol::kLinux64);
  EXPECT_EQ(kernel.entry_point, GuestAddress(0x100200));
  EXPECT_EQ(kernel.start, GuestAddress(0x100000));
  EXPECT_EQ(kernel.end, GuestAddress(kKernel + 0x400000));
  ASSERT_TRUE(+kernel.header.has_value());
  EXPECT_EQ(+kernel.header->version, 0x020f);
  EXPECT_EQ(+kernel.header->cmdline_size, 2047u);
  EXPECT_EQ(ReadByte(0x100000), 0x48);

  ASSERT_OK_AND_ASSIGN(kernel, Load(image, BootProtocolChoice::kLinux64));
  EXPECT_EQ(kernel.format, "bzimage");
}

TEST_F(LoadKernelTest, BzImageCannotBootPvh) {
  EXPECT_THAT(Load(BuildBzImage(), BootProtocolChoice::kPvh),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs an ELF kernel")));
  EXPECT_EQ(ReadByte(0x100000), 0) << "nothing loaded";
}

TEST_F(LoadKernelTest, ABrokenBzImageReportsTheLoadersError) {
  std::vector<uint8_t> image = BuildBzImage();
  image[0x206] = 0x0b;  // version 2.11
  EXPECT_THAT(Load(image, BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2.11 is too old")));
}

TEST_F(LoadKernelTest, ABrokenElfReportsTheLoadersError) {
  std::vector<uint8_t> image = BuildElf(std::nullopt);
  image[EI_CLASS] = ELFCLASS32;
  EXPECT_THAT(Load(image, BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64-bit")));
}

TEST_F(LoadKernelTest, RejectsOtherFormats) {
  const std::vector<uint8_t> garbage(4096, 0x42);
  EXPECT_THAT(Load(garbage, BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("neither an ELF vmlinux nor a bzImage")));
  // Four bytes can hold the ELF magic, so they are judged as a format; two cannot.
  EXPECT_THAT(Load(std::vector<uint8_t>(4, 0x42), BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("neither")));
  EXPECT_THAT(Load(std::vector<uint8_t>(2, 0x42), BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
  EXPECT_THAT(Load({}, BootProtocolChoice::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
  EXPECT_THAT(Load(std::vector<uint8_t>(4096, 0x42), BootProtocolChoice::kPvh),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("neither")));
}

}  // namespace
}  // namespace vmmd
