// Fuzzes PVH note parsing. Input: the contents of an ELF note segment (Elf64_Nhdr, name,
// descriptor, ... as in a vmlinux's PT_NOTE).
//
// The fuzzer wraps the payload in a valid ELF64 x86_64 executable it builds (one PT_LOAD,
// then the notes), so that every execution reaches the note parser, and calls FindPvhEntry
// twice: with the payload as one PT_NOTE segment, and split at a 4-byte boundary near its
// middle into two. Each answer must match a reference reading of the notes written here
// from the ELF specification (gABI "Note Section") and Xen's elfnote.h, with pvh.h's limits:
//   - notes follow one another, each Elf64_Nhdr + name + descriptor, both padded to 4 bytes;
//     fewer than sizeof(Elf64_Nhdr) bytes left in a segment end it;
//   - a note running past its segment, or more than kMaxElfNotes notes in all, is an error;
//   - the first note of type XEN_ELFNOTE_PHYS32_ENTRY named "Xen" (namesz 4, NUL included)
//     gives the entry: its descriptor must be 4 or 8 bytes and its value fit in 32 bits;
//   - without one, there is no PVH entry.
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "boot/image_reader.h"
#include "boot/pvh.h"
#include "tests/fuzz/image_builder.h"
#include "tests/fuzz/fuzz_check.h"

namespace vmmd::fuzz {
namespace {

struct Expected {
  bool error = false;
  std::optional<uint32_t> entry;
};

uint32_t ReadWord(const std::vector<uint8_t>& bytes, uint64_t offset) {
  uint32_t word;
  std::memcpy(&word, bytes.data() + offset, sizeof(word));
  return word;
}

uint64_t Padded(uint64_t size) { return (size + 3) / 4 * 4; }

Expected ReferenceEntry(const std::vector<std::vector<uint8_t>>& segments) {
  int notes = 0;
  for (const std::vector<uint8_t>& segment : segments) {
    uint64_t offset = 0;
    while (segment.size() - offset >= 3 * sizeof(uint32_t)) {
      if (++notes > kMaxElfNotes) return {true, std::nullopt};
      const uint32_t namesz = ReadWord(segment, offset);
      const uint32_t descsz = ReadWord(segment, offset + 4);
      const uint32_t type = ReadWord(segment, offset + 8);
      const uint64_t name = offset + 12;
      const uint64_t desc = name + Padded(namesz);
      const uint64_t end = desc + Padded(descsz);
      if (end > segment.size()) return {true, std::nullopt};
      if (type == kXenElfNotePhys32Entry && namesz == 4 &&
          std::memcmp(segment.data() + name, "Xen", 4) == 0) {
        if (descsz != 4 && descsz != 8) return {true, std::nullopt};
        uint64_t value = 0;
        for (uint32_t i = 0; i < descsz; ++i) value |= uint64_t{segment[desc + i]} << (8 * i);
        if (value > UINT32_MAX) return {true, std::nullopt};
        return {false, static_cast<uint32_t>(value)};
      }
      offset = end;
    }
  }
  return {false, std::nullopt};
}

void CheckAgainstReference(const std::vector<std::vector<uint8_t>>& notes) {
  std::vector<ElfSegment> segments;
  // A code segment like a kernel's; FindPvhEntry skips everything but PT_NOTE.
  segments.push_back({PT_LOAD, 0x1000000, 0x1000000, 0, std::vector<uint8_t>(16, 0x90)});
  for (const std::vector<uint8_t>& bytes : notes) segments.push_back({PT_NOTE, 0, 0, 0, bytes});
  const std::vector<uint8_t> elf = BuildElf(0x1000000, segments);
  const absl::StatusOr<std::optional<uint32_t>> found = FindPvhEntry(BytesImageReader(elf));
  const Expected expected = ReferenceEntry(notes);
  const std::string what = absl::StrFormat("%d note segment(s): FindPvhEntry says %s", notes.size(),
                                           found.ok() ? (found->has_value() ? "an entry" : "none")
                                                      : found.status().ToString());
  if (expected.error) {
    FUZZ_CHECK(!found.ok(), what + "; expected an error");
    FUZZ_CHECK(found.status().code() == absl::StatusCode::kInvalidArgument, what);
    return;
  }
  FUZZ_CHECK(found.ok(), what + "; expected no error");
  FUZZ_CHECK(*found == expected.entry,
             what + absl::StrFormat("; expected %s",
                                    expected.entry ? absl::StrFormat("%#x", *expected.entry)
                                                   : std::string("none")));
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd::fuzz;
  const std::vector<uint8_t> payload(data, data + size);
  CheckAgainstReference({payload});
  const size_t split = size / 2 / 4 * 4;
  CheckAgainstReference({std::vector<uint8_t>(payload.begin(), payload.begin() + split),
                         std::vector<uint8_t>(payload.begin() + split, payload.end())});
  return 0;
}
