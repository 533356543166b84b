// PVH: the entry note in ELF64 images built here, and hvm_start_info read back from memory at
// the offsets of xen/include/public/arch-x86/hvm/start_info.h.
#include "boot/pvh.h"

#include <elf.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "boot/test_elf_header.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint32_t kNtGnuBuildId = 3;     // NT_GNU_BUILD_ID
constexpr uint32_t kXenElfNoteEntry = 1;  // XEN_ELFNOTE_ENTRY (the PV entry, not ours)

std::vector<uint8_t> Le(uint64_t value, size_t size) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : 0;
  return bytes;
}

void Append(std::vector<uint8_t>& to, const std::vector<uint8_t>& bytes) {
  to.insert(to.end(), bytes.begin(), bytes.end());
}

// One ELF note: Elf64_Nhdr, the name with its NUL, the descriptor, each padded to 4 bytes.
std::vector<uint8_t> Note(const std::string& name, uint32_t type, const std::vector<uint8_t>& desc) {
  std::vector<uint8_t> note;
  Append(note, Le(name.empty() ? 0 : name.size() + 1, 4));
  Append(note, Le(desc.size(), 4));
  Append(note, Le(type, 4));
  if (!name.empty()) {
    note.insert(note.end(), name.begin(), name.end());
    note.push_back(0);
  }
  note.resize((note.size() + 3) & ~size_t{3}, 0);
  Append(note, desc);
  note.resize((note.size() + 3) & ~size_t{3}, 0);
  return note;
}

std::vector<uint8_t> Notes(std::initializer_list<std::vector<uint8_t>> notes) {
  std::vector<uint8_t> bytes;
  for (const auto& note : notes) Append(bytes, note);
  return bytes;
}

std::vector<uint8_t> BuildId() {
  return Note("GNU", kNtGnuBuildId, std::vector<uint8_t>(20, 0xb1));
}

struct Segment {
  uint32_t type;
  std::vector<uint8_t> bytes;
};

// An ELF64 x86_64 executable: header, program headers, then each segment's bytes in order
// (the last one ends exactly at the end of the file).
std::vector<uint8_t> BuildElf(const std::vector<Segment>& segments) {
  std::vector<uint8_t> image(sizeof(Elf64_Ehdr) + segments.size() * sizeof(Elf64_Phdr));
  Elf64_Ehdr header = ::vmmd::testing::X86_64ExecutableHeader(0x1000000, static_cast<uint16_t>(segments.size()));
  std::memcpy(image.data(), &header, sizeof(header));
  for (size_t i = 0; i < segments.size(); ++i) {
    Elf64_Phdr phdr = {};
    phdr.p_type = segments[i].type;
    phdr.p_offset = image.size();
    phdr.p_paddr = phdr.p_vaddr = segments[i].type == PT_LOAD ? 0x1000000 : 0;
    phdr.p_filesz = segments[i].bytes.size();
    phdr.p_memsz = segments[i].bytes.size();
    phdr.p_align = 4;
    Append(image, segments[i].bytes);
    std::memcpy(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &phdr, sizeof(phdr));
  }
  return image;
}

Elf64_Phdr& PhdrOf(std::vector<uint8_t>& image, int i) {
  return *reinterpret_cast<Elf64_Phdr*>(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

absl::StatusOr<std::optional<uint32_t>> Find(const std::vector<uint8_t>& image) {
  return FindPvhEntry(BytesImageReader(image));
}

const std::vector<uint8_t> kCode(64, 0x90);

// Linux's notes segment: a build id, Xen notes of other types, then the PVH entry.
TEST(FindPvhEntryTest, FindsTheEntryWithAFourByteDescriptor) {
  const std::vector<uint8_t> image = BuildElf({
      {PT_LOAD, kCode},
      {PT_NOTE, Notes({BuildId(), Note("Xen", kXenElfNoteEntry, Le(0xffffffff81000000, 8)),
                       Note("Xen", kXenElfNotePhys32Entry, Le(0x1000abc, 4))})},
  });
  EXPECT_THAT(Find(image), ::vmmd::testing::IsOk());
  EXPECT_THAT(Find(image).value(), Optional(0x1000abcu));
}

TEST(FindPvhEntryTest, FindsTheEntryWithAnEightByteDescriptor) {
  std::vector<uint8_t> image = BuildElf({
      {PT_NOTE, Notes({Note("Xen", kXenElfNotePhys32Entry, Le(0x1000def, 8))})},
  });
  EXPECT_THAT(Find(image).value(), Optional(0x1000defu));
  // The largest 32-bit value is still one.
  image = BuildElf({{PT_NOTE, Note("Xen", kXenElfNotePhys32Entry, Le(0xffffffff, 8))}});
  EXPECT_THAT(Find(image).value(), Optional(0xffffffffu));
}

TEST(FindPvhEntryTest, FindsTheEntryInALaterNoteSegment) {
  const std::vector<uint8_t> image = BuildElf({
      {PT_NOTE, BuildId()},
      {PT_LOAD, kCode},
      {PT_NOTE, Notes({Note("Linux", 1, Le(0, 4)), Note("Xen", 18, Le(0x2000000, 4))})},
  });
  EXPECT_THAT(Find(image).value(), Optional(0x2000000u));
}

TEST(FindPvhEntryTest, NoneWithoutTheNote) {
  EXPECT_EQ(Find(BuildElf({{PT_LOAD, kCode}})).value(), std::nullopt);
  EXPECT_EQ(Find(BuildElf({{PT_LOAD, kCode}, {PT_NOTE, BuildId()}})).value(), std::nullopt);
  EXPECT_EQ(Find(BuildElf({{PT_NOTE, {}}})).value(), std::nullopt);
  // The entry note's bytes outside a PT_NOTE segment do not count.
  EXPECT_EQ(Find(BuildElf({{PT_LOAD, Note("Xen", 18, Le(0x1000000, 4))}})).value(), std::nullopt);
}

TEST(FindPvhEntryTest, SkipsXenNotesOfOtherTypes) {
  std::vector<uint8_t> image = BuildElf({
      {PT_NOTE, Notes({Note("Xen", kXenElfNoteEntry, Le(0xdead, 4)),
                       Note("Xen", 17, Le(0xbeef, 4)),  // the neighbouring types
                       Note("Xen", 19, Le(0xcafe, 4))})},
  });
  EXPECT_EQ(Find(image).value(), std::nullopt);
  image = BuildElf({
      {PT_NOTE, Notes({Note("Xen", kXenElfNoteEntry, Le(0xdead, 4)),
                       Note("Xen", 18, Le(0x1000000, 4))})},
  });
  EXPECT_THAT(Find(image).value(), Optional(0x1000000u));
}

TEST(FindPvhEntryTest, SkipsType18NotesOfOtherOwners) {
  // Same type number, other owner: "GNU", a name of the same length, and "Xen" spelled
  // with a longer name.
  std::vector<uint8_t> image = BuildElf({
      {PT_NOTE, Notes({Note("GNU", 18, Le(0xdead, 4)), Note("XeN", 18, Le(0xbeef, 4)),
                       Note("Xen2", 18, Le(0xcafe, 4))})},
  });
  EXPECT_EQ(Find(image).value(), std::nullopt);
  image = BuildElf({
      {PT_NOTE, Notes({Note("GNU", 18, Le(0xdead, 4)), Note("Xen", 18, Le(0x1000000, 4))})},
  });
  EXPECT_THAT(Find(image).value(), Optional(0x1000000u));
}

TEST(FindPvhEntryTest, RejectsANoteSegmentBeyondTheFile) {
  std::vector<uint8_t> image = BuildElf({{PT_NOTE, Note("Xen", 18, Le(0x1000000, 4))}});
  // The segment ends exactly at the end of the file; one byte more lies beyond it.
  ASSERT_EQ(PhdrOf(image, 0).p_offset + PhdrOf(image, 0).p_filesz, image.size());
  PhdrOf(image, 0).p_filesz += 1;
  EXPECT_THAT(Find(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beyond")));
  PhdrOf(image, 0).p_filesz = 4;
  PhdrOf(image, 0).p_offset = image.size() + 1;
  EXPECT_THAT(Find(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beyond")));
  PhdrOf(image, 0).p_offset = 8;
  PhdrOf(image, 0).p_filesz = UINT64_MAX - 4;  // offset + size wraps
  EXPECT_THAT(Find(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beyond")));
}

TEST(FindPvhEntryTest, RejectsANoteRunningPastItsSegment) {
  // The segment is one byte short of its last note's padded descriptor.
  std::vector<uint8_t> image = BuildElf({
      {PT_NOTE, Notes({BuildId(), Note("Xen", 18, Le(0x1000000, 4))})},
      {PT_LOAD, kCode},
  });
  PhdrOf(image, 0).p_filesz -= 1;
  EXPECT_THAT(Find(image),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("runs past its segment")));
  // A name size so large it would wrap a 32-bit sum.
  std::vector<uint8_t> note = Note("Xen", 18, Le(0x1000000, 4));
  note[0] = note[1] = note[2] = note[3] = 0xff;
  image = BuildElf({{PT_NOTE, note}, {PT_LOAD, kCode}});
  EXPECT_THAT(Find(image),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("runs past its segment")));
}

TEST(FindPvhEntryTest, RejectsAnEntryOfTheWrongSize) {
  std::vector<uint8_t> image = BuildElf({{PT_NOTE, Note("Xen", 18, Le(0x1000, 2))}});
  EXPECT_THAT(Find(image), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("has 2 bytes; 4 or 8 expected")));
  image = BuildElf({{PT_NOTE, Note("Xen", 18, Le(0x1000000, 16))}});
  EXPECT_THAT(Find(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("16 bytes")));
}

TEST(FindPvhEntryTest, RejectsAnEightByteEntryAboveFourGiB) {
  const std::vector<uint8_t> image =
      BuildElf({{PT_NOTE, Note("Xen", 18, Le(0x100000000, 8))}});
  EXPECT_THAT(Find(image), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("not a 32-bit address")));
}

TEST(FindPvhEntryTest, ReadsAtMostKMaxElfNotes) {
  std::vector<uint8_t> empty_notes;
  for (int i = 0; i < kMaxElfNotes; ++i) Append(empty_notes, Note("", 0, {}));
  ASSERT_EQ(empty_notes.size(), 12u * kMaxElfNotes);
  // 256 notes are read (and hold no entry)...
  EXPECT_EQ(Find(BuildElf({{PT_NOTE, empty_notes}})).value(), std::nullopt);
  // ...one more is refused, even when the entry would follow it,
  std::vector<uint8_t> too_many = empty_notes;
  Append(too_many, Note("Xen", 18, Le(0x1000000, 4)));
  EXPECT_THAT(Find(BuildElf({{PT_NOTE, too_many}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 256 notes")));
  // ...and the count runs across segments.
  EXPECT_THAT(Find(BuildElf({{PT_NOTE, empty_notes}, {PT_NOTE, Note("", 0, {})}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 256 notes")));
}

// hvm_start_info field offsets (start_info.h), read as raw little-endian words.
constexpr uint64_t kStart = 0x6000;
constexpr uint64_t kModlist = 0x6040;
constexpr uint64_t kMemmap = 0x6100;

class WritePvhStartInfoTest : public ::testing::Test {
 protected:
  uint64_t Read64(uint64_t address) { return memory_.Read<uint64_t>(GuestAddress(address)).value(); }
  uint32_t Read32(uint64_t address) { return memory_.Read<uint32_t>(GuestAddress(address)).value(); }

  static std::vector<E820Entry> ThreeEntries() {
    return {{0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, 63 * kMiB, 1}};
  }

  GuestMemory memory_ = GuestMemory::Create(64 * kMiB).value();
};

TEST_F(WritePvhStartInfoTest, WritesStartInfoAndMemoryMap) {
  ASSERT_OK(memory_.Fill(GuestAddress(kStart), 0xee, 0x1000));
  const std::vector<E820Entry> e820 = ThreeEntries();
  PvhContents contents;
  contents.cmdline = GuestAddress(0x20000);
  contents.memory_map = e820;
  ASSERT_OK_AND_ASSIGN(GuestAddress start_info, WritePvhStartInfo(memory_, contents));
  EXPECT_EQ(start_info, GuestAddress(0x6000));

  EXPECT_EQ(Read32(kStart + 0), 0x336ec578u);  // magic
  EXPECT_EQ(Read32(kStart + 4), 1u);           // version
  EXPECT_EQ(Read32(kStart + 8), 0u);           // flags
  EXPECT_EQ(Read32(kStart + 12), 0u);          // nr_modules
  EXPECT_EQ(Read64(kStart + 16), 0u);          // modlist_paddr
  EXPECT_EQ(Read64(kStart + 24), 0x20000u);    // cmdline_paddr
  EXPECT_EQ(Read64(kStart + 32), 0u);          // rsdp_paddr
  EXPECT_EQ(Read64(kStart + 40), kMemmap);     // memmap_paddr
  EXPECT_EQ(Read32(kStart + 48), 3u);          // memmap_entries
  EXPECT_EQ(Read32(kStart + 52), 0u);          // reserved
  EXPECT_EQ(Read32(kStart + 56), 0xeeeeeeeeu) << "nothing past the 56-byte struct";
  EXPECT_EQ(Read64(kModlist), 0xeeeeeeeeeeeeeeeeu) << "no module list without an initrd";

  for (size_t i = 0; i < e820.size(); ++i) {
    const uint64_t entry = kMemmap + 24 * i;
    EXPECT_EQ(Read64(entry + 0), e820[i].addr) << i;
    EXPECT_EQ(Read64(entry + 8), e820[i].size) << i;
    EXPECT_EQ(Read32(entry + 16), e820[i].type) << i;
    EXPECT_EQ(Read32(entry + 20), 0u) << i;
  }
  EXPECT_EQ(Read32(kMemmap + 24 * 3), 0xeeeeeeeeu) << "three entries, no more";
}

TEST_F(WritePvhStartInfoTest, TheInitrdIsTheOneModule) {
  const std::vector<E820Entry> e820 = ThreeEntries();
  PvhContents contents;
  contents.cmdline = GuestAddress(0x20000);
  contents.initrd = GuestAddress(0x3c00000);
  contents.initrd_size = 0x123457;
  contents.memory_map = e820;
  ASSERT_OK(WritePvhStartInfo(memory_, contents).status());
  EXPECT_EQ(Read32(kStart + 12), 1u);        // nr_modules
  EXPECT_EQ(Read64(kStart + 16), kModlist);  // modlist_paddr
  EXPECT_EQ(Read64(kModlist + 0), 0x3c00000u);
  EXPECT_EQ(Read64(kModlist + 8), 0x123457u);
  EXPECT_EQ(Read64(kModlist + 16), 0u);  // no module cmdline
  EXPECT_EQ(Read64(kModlist + 24), 0u);
}

TEST_F(WritePvhStartInfoTest, HoldsAtMost128MemoryMapEntries) {
  std::vector<E820Entry> e820;
  for (uint64_t i = 0; i < 128; ++i) e820.push_back({i * 0x1000, 0x1000, 1});
  PvhContents contents;
  contents.memory_map = e820;
  ASSERT_OK(WritePvhStartInfo(memory_, contents).status());
  EXPECT_EQ(Read32(kStart + 48), 128u);
  EXPECT_EQ(Read64(kMemmap + 24 * 127), 127u * 0x1000);

  e820.push_back({128 * 0x1000, 0x1000, 1});
  contents.memory_map = e820;
  EXPECT_THAT(WritePvhStartInfo(memory_, contents),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("128")));
}

TEST_F(WritePvhStartInfoTest, MemoryTooSmallIsOutOfRange) {
  const std::vector<E820Entry> e820 = ThreeEntries();
  PvhContents contents;
  contents.memory_map = e820;
  memory_ = GuestMemory::Create(0x6000).value();
  EXPECT_THAT(WritePvhStartInfo(memory_, contents),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  memory_ = GuestMemory::Create(0x7000).value();  // the page below the zero page suffices
  EXPECT_OK(WritePvhStartInfo(memory_, contents).status());
}

}  // namespace
}  // namespace vmmd
