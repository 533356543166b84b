#include "boot/pvh.h"

#include <elf.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"

namespace vmmd {
namespace {

constexpr char kXenNoteName[] = "Xen";  // with its NUL: namesz 4

uint64_t AlignUp4(uint64_t value) { return (value + 3) & ~uint64_t{3}; }

}  // namespace

absl::StatusOr<std::optional<uint32_t>> FindPvhEntry(const ImageReader& image) {
  Elf64_Ehdr header;
  RETURN_IF_ERROR(image.ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(&header), sizeof(header))));
  std::vector<Elf64_Phdr> headers(header.e_phnum);
  RETURN_IF_ERROR(image.ReadAt(header.e_phoff, absl::MakeSpan(reinterpret_cast<uint8_t*>(headers.data()),
                                                              headers.size() * sizeof(Elf64_Phdr))));
  int notes_seen = 0;
  for (const Elf64_Phdr& segment : headers) {
    if (segment.p_type != PT_NOTE) continue;
    if (segment.p_offset > image.size() || segment.p_filesz > image.size() - segment.p_offset) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "kernel ELF note segment [%#x, +%#x) lies beyond the %d-byte image", segment.p_offset,
          segment.p_filesz, image.size()));
    }
    for (uint64_t offset = 0; offset + sizeof(Elf64_Nhdr) <= segment.p_filesz;) {
      if (++notes_seen > kMaxElfNotes) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "kernel ELF has more than %d notes", kMaxElfNotes));
      }
      Elf64_Nhdr note;
      RETURN_IF_ERROR(image.ReadAt(segment.p_offset + offset,
                                   absl::MakeSpan(reinterpret_cast<uint8_t*>(&note), sizeof(note))));
      const uint64_t name_offset = offset + sizeof(note);
      const uint64_t desc_offset = name_offset + AlignUp4(note.n_namesz);
      const uint64_t next = desc_offset + AlignUp4(note.n_descsz);
      if (next > segment.p_filesz) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "kernel ELF note at segment offset %#x runs past its segment", offset));
      }
      if (note.n_type == kXenElfNotePhys32Entry && note.n_namesz == sizeof(kXenNoteName)) {
        char name[sizeof(kXenNoteName)];
        RETURN_IF_ERROR(image.ReadAt(segment.p_offset + name_offset,
                                     absl::MakeSpan(reinterpret_cast<uint8_t*>(name), sizeof(name))));
        if (std::memcmp(name, kXenNoteName, sizeof(name)) == 0) {
          // Linux writes a 32-bit value; an 8-byte one is accepted if it fits in 32 bits.
          if (note.n_descsz != 4 && note.n_descsz != 8) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "kernel's PVH entry note has %d bytes; 4 or 8 expected", note.n_descsz));
          }
          uint64_t entry = 0;
          RETURN_IF_ERROR(image.ReadAt(segment.p_offset + desc_offset,
                                       absl::MakeSpan(reinterpret_cast<uint8_t*>(&entry), note.n_descsz)));
          if (entry > UINT32_MAX) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "kernel's PVH entry %#x is not a 32-bit address", entry));
          }
          return static_cast<uint32_t>(entry);
        }
      }
      offset = next;
    }
  }
  return std::nullopt;
}

absl::StatusOr<GuestAddress> WritePvhStartInfo(GuestMemory& memory, const PvhContents& contents) {
  if (contents.memory_map.size() > layout::kPvhMemmapMaxEntries) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "PVH memory map holds at most %d entries", layout::kPvhMemmapMaxEntries));
  }
  std::vector<HvmMemmapEntry> memmap;
  for (const E820Entry& entry : contents.memory_map) {
    memmap.push_back({entry.addr, entry.size, entry.type, 0});
  }
  RETURN_IF_ERROR(memory.WriteBytes(
      GuestAddress(layout::kPvhMemmapStart),
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(memmap.data()),
                          memmap.size() * sizeof(HvmMemmapEntry))));

  HvmStartInfo info = {};
  info.magic = kHvmStartMagic;
  info.version = 1;
  info.cmdline_paddr = contents.cmdline.value();
  info.memmap_paddr = layout::kPvhMemmapStart;
  info.memmap_entries = static_cast<uint32_t>(memmap.size());
  info.rsdp_paddr = contents.rsdp.value();
  if (contents.initrd_size != 0) {
    HvmModlistEntry module = {contents.initrd.value(), contents.initrd_size, 0, 0};
    RETURN_IF_ERROR(memory.Write(GuestAddress(layout::kPvhModlistStart), module));
    info.nr_modules = 1;
    info.modlist_paddr = layout::kPvhModlistStart;
  }
  RETURN_IF_ERROR(memory.Write(GuestAddress(layout::kPvhStartInfo), info));
  return GuestAddress(layout::kPvhStartInfo);
}

}  // namespace vmmd
