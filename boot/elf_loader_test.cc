#include "boot/elf_loader.h"

#include <elf.h>

#include <cstring>
#include <vector>

#include "base/status_matchers.h"
#include "boot/test_elf_header.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

struct Segment {
  uint64_t paddr;
  std::vector<uint8_t> bytes;
  uint64_t memsz;
  uint32_t type = PT_LOAD;
};

// Builds an ELF64 x86_64 executable image; tests then break one field at a time.
class ElfBuilder {
 public:
  ElfBuilder& Add(Segment segment) {
    segments_.push_back(std::move(segment));
    return *this;
  }
  std::vector<uint8_t> Build(uint64_t entry) const {
    std::vector<uint8_t> image(sizeof(Elf64_Ehdr) + segments_.size() * sizeof(Elf64_Phdr));
    Elf64_Ehdr header = ::vmmd::testing::X86_64ExecutableHeader(entry, static_cast<uint16_t>(segments_.size()));
    std::memcpy(image.data(), &header, sizeof(header));
    for (size_t i = 0; i < segments_.size(); ++i) {
      Elf64_Phdr phdr = {};
      phdr.p_type = segments_[i].type;
      phdr.p_offset = image.size();
      phdr.p_vaddr = segments_[i].paddr;
      phdr.p_paddr = segments_[i].paddr;
      phdr.p_filesz = segments_[i].bytes.size();
      phdr.p_memsz = segments_[i].memsz;
      image.insert(image.end(), segments_[i].bytes.begin(), segments_[i].bytes.end());
      std::memcpy(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &phdr, sizeof(phdr));
    }
    return image;
  }

 private:
  std::vector<Segment> segments_;
};

constexpr uint64_t kKernel = 0x1000000;

std::vector<uint8_t> GoodImage() {
  return ElfBuilder()
      .Add({kKernel, {0xaa, 0xbb, 0xcc}, 0x2000})
      .Add({kKernel + 0x200000, {0x11}, 1})
      .Build(kKernel);
}

Elf64_Ehdr& HeaderOf(std::vector<uint8_t>& image) { return *reinterpret_cast<Elf64_Ehdr*>(image.data()); }
Elf64_Phdr& PhdrOf(std::vector<uint8_t>& image, int i) {
  return *reinterpret_cast<Elf64_Phdr*>(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

class ElfLoaderTest : public ::testing::Test {
 protected:
  absl::StatusOr<LoadedKernel> Load(const std::vector<uint8_t>& image) {
    return LoadElfKernel(BytesImageReader(image), memory_);
  }
  GuestMemory memory_ = GuestMemory::Create(64 << 20).value();
};

TEST_F(ElfLoaderTest, LoadsSegmentsAndZeroesBss) {
  ASSERT_OK(memory_.Fill(GuestAddress(kKernel), 0xee, 0x2000));
  ASSERT_OK_AND_ASSIGN(LoadedKernel kernel, Load(GoodImage()));
  EXPECT_EQ(kernel.entry_point, GuestAddress(kKernel));
  EXPECT_EQ(kernel.start, GuestAddress(kKernel));
  EXPECT_EQ(kernel.end, GuestAddress(kKernel + 0x200001));
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(kKernel + 1)).value(), 0xbb);
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(kKernel + 3)).value(), 0) << "bss zeroed";
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(kKernel + 0x1fff)).value(), 0);
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(kKernel + 0x200000)).value(), 0x11);
}

TEST_F(ElfLoaderTest, EntryIsTranslatedFromVirtualToPhysical) {
  std::vector<uint8_t> image = GoodImage();
  // A vmlinux links at 0xffffffff81000000 and loads at 16 MiB.
  PhdrOf(image, 0).p_vaddr = 0xffffffff81000000;
  HeaderOf(image).e_entry = 0xffffffff81000010;
  ASSERT_OK_AND_ASSIGN(LoadedKernel kernel, Load(image));
  EXPECT_EQ(kernel.entry_point, GuestAddress(kKernel + 0x10));
}

TEST_F(ElfLoaderTest, PhysicalEntryIsTakenAsIs) {
  // Linux's vmlinux: segments linked high, e_entry the physical startup_64.
  std::vector<uint8_t> image = GoodImage();
  PhdrOf(image, 0).p_vaddr = 0xffffffff81000000;
  HeaderOf(image).e_entry = kKernel + 0x40;
  ASSERT_OK_AND_ASSIGN(LoadedKernel kernel, Load(image));
  EXPECT_EQ(kernel.entry_point, GuestAddress(kKernel + 0x40));
}

TEST_F(ElfLoaderTest, RejectsEmptyAndTruncatedHeaders) {
  EXPECT_THAT(Load({}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
  std::vector<uint8_t> image = GoodImage();
  image.resize(sizeof(Elf64_Ehdr) + 10);  // program headers cut off
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
}

TEST_F(ElfLoaderTest, RejectsBadMagicClassMachineAndType) {
  std::vector<uint8_t> image = GoodImage();
  image[1] = 'X';
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an ELF")));
  image = GoodImage();
  image[EI_CLASS] = ELFCLASS32;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64-bit")));
  image = GoodImage();
  HeaderOf(image).e_machine = EM_AARCH64;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x86_64")));
  image = GoodImage();
  HeaderOf(image).e_type = ET_DYN;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ET_EXEC")));
  image = GoodImage();
  HeaderOf(image).e_ident[EI_DATA] = ELFDATA2MSB;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("little-endian")));
}

TEST_F(ElfLoaderTest, RejectsAbsurdProgramHeaders) {
  std::vector<uint8_t> image = GoodImage();
  HeaderOf(image).e_phnum = 0;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 program headers")));
  HeaderOf(image).e_phnum = 65535;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 to 64")));
  image = GoodImage();
  HeaderOf(image).e_phentsize = 12;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header size")));
  image = GoodImage();
  HeaderOf(image).e_phoff = UINT64_MAX - 8;  // wraps
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
}

TEST_F(ElfLoaderTest, RejectsLyingSegments) {
  std::vector<uint8_t> image = GoodImage();
  PhdrOf(image, 0).p_filesz = 0x3000;  // more than memsz
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds memory size")));
  image = GoodImage();
  PhdrOf(image, 1).p_offset = image.size();  // its byte is past the end
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beyond")));
  image = GoodImage();
  PhdrOf(image, 1).p_offset = UINT64_MAX;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beyond")));
}

TEST_F(ElfLoaderTest, RejectsSegmentsOutsideUsableRam) {
  std::vector<uint8_t> image = GoodImage();
  PhdrOf(image, 0).p_paddr = layout::kZeroPageStart;  // over the boot structures
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("boot structures")));
  image = GoodImage();
  PhdrOf(image, 1).p_paddr = 63 << 20;
  PhdrOf(image, 1).p_memsz = 2 << 20;  // runs past 64 MiB
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("not inside guest RAM")));
  image = GoodImage();
  PhdrOf(image, 1).p_paddr = UINT64_MAX - 4;  // wraps
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

TEST_F(ElfLoaderTest, NothingIsWrittenWhenALaterSegmentIsBad) {
  std::vector<uint8_t> image = GoodImage();
  PhdrOf(image, 1).p_paddr = 1ull << 40;
  EXPECT_FALSE(Load(image).ok());
  EXPECT_EQ(memory_.Read<uint8_t>(GuestAddress(kKernel)).value(), 0) << "first segment untouched";
}

TEST_F(ElfLoaderTest, RejectsAnEntryOutsideTheSegmentsAndImagesWithoutLoads) {
  std::vector<uint8_t> image = GoodImage();
  HeaderOf(image).e_entry = 0x5000000;
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entry point")));
  image = ElfBuilder().Add({kKernel, {1}, 1, PT_NOTE}).Build(kKernel);
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no loadable")));
}

}  // namespace
}  // namespace vmmd
