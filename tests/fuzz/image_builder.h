// Byte-level building of kernel images for the seed generator and the fuzzers: ELF64 x86_64
// executables and ELF notes (layouts from <elf.h>), and bzImages (boot sector and setup
// sectors with the setup header at 0x1f1, Documentation/arch/x86/boot.rst).
#ifndef VMMD_TESTS_FUZZ_IMAGE_BUILDER_H_
#define VMMD_TESTS_FUZZ_IMAGE_BUILDER_H_

#include <asm/bootparam.h>
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "boot/test_elf_header.h"

namespace vmmd::fuzz {

inline void AppendBytes(std::vector<uint8_t>& to, const void* bytes, size_t size) {
  const auto* begin = static_cast<const uint8_t*>(bytes);
  to.insert(to.end(), begin, begin + size);
}

inline void AppendLe(std::vector<uint8_t>& to, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) to.push_back(i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : 0);
}

inline void PadTo4(std::vector<uint8_t>& bytes) { bytes.resize((bytes.size() + 3) & ~size_t{3}, 0); }

// One note: Elf64_Nhdr, the name with its NUL (none for an empty name), the descriptor, each
// padded to 4 bytes (the x86_64 note alignment Linux uses).
inline std::vector<uint8_t> ElfNote(const std::string& name, uint32_t type,
                                    const std::vector<uint8_t>& desc) {
  std::vector<uint8_t> note;
  AppendLe(note, name.empty() ? 0 : name.size() + 1, 4);
  AppendLe(note, desc.size(), 4);
  AppendLe(note, type, 4);
  if (!name.empty()) AppendBytes(note, name.c_str(), name.size() + 1);
  PadTo4(note);
  AppendBytes(note, desc.data(), desc.size());
  PadTo4(note);
  return note;
}

inline std::vector<uint8_t> Le(uint64_t value, size_t size) {
  std::vector<uint8_t> bytes;
  AppendLe(bytes, value, size);
  return bytes;
}

struct ElfSegment {
  uint32_t type = PT_LOAD;
  uint64_t paddr = 0;
  uint64_t vaddr = 0;
  uint64_t memsz = 0;  // 0: the size of `bytes`
  std::vector<uint8_t> bytes;
};

// An ELF64 x86_64 executable: header, program headers, then each segment's bytes in order.
inline std::vector<uint8_t> BuildElf(uint64_t entry, const std::vector<ElfSegment>& segments) {
  std::vector<uint8_t> image(sizeof(Elf64_Ehdr) + segments.size() * sizeof(Elf64_Phdr), 0);
  Elf64_Ehdr header = ::vmmd::testing::X86_64ExecutableHeader(entry, static_cast<uint16_t>(segments.size()));
  std::memcpy(image.data(), &header, sizeof(header));
  for (size_t i = 0; i < segments.size(); ++i) {
    const ElfSegment& segment = segments[i];
    Elf64_Phdr phdr = {};
    phdr.p_type = segment.type;
    phdr.p_flags = segment.type == PT_LOAD ? PF_R | PF_X : PF_R;
    phdr.p_offset = image.size();
    phdr.p_paddr = segment.paddr;
    phdr.p_vaddr = segment.vaddr;
    phdr.p_filesz = segment.bytes.size();
    phdr.p_memsz = segment.memsz != 0 ? segment.memsz : segment.bytes.size();
    phdr.p_align = segment.type == PT_NOTE ? 4 : 0x1000;
    AppendBytes(image, segment.bytes.data(), segment.bytes.size());
    std::memcpy(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &phdr, sizeof(phdr));
  }
  return image;
}

// XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h).
inline constexpr uint32_t kPhys32EntryNote = 18;

// A vmlinux-like ELF: code at 16 MiB (physical; virtual at the kernel map, e_entry physical
// as Linux links it), a bss, and a notes segment with a build id and the PVH entry.
inline std::vector<uint8_t> PvhKernelElf(size_t entry_note_size = 4) {
  std::vector<uint8_t> notes = ElfNote("GNU", 3, std::vector<uint8_t>(20, 0xb1));
  const std::vector<uint8_t> entry = ElfNote("Xen", kPhys32EntryNote, Le(0x1000040, entry_note_size));
  notes.insert(notes.end(), entry.begin(), entry.end());
  std::vector<uint8_t> code(256);
  for (size_t i = 0; i < code.size(); ++i) code[i] = static_cast<uint8_t>(0x90 + i % 7);
  return BuildElf(0x1000000, {{PT_LOAD, 0x1000000, 0xffffffff81000000, 0x3000, code},
                              {PT_NOTE, 0, 0, 0, notes}});
}

// The setup header of a protocol 2.15 x86_64 bzImage (Linux 5.x/6.x), relocatable, with
// init_size room to decompress; what the fields mean is in boot.rst.
inline setup_header BzImageHeader() {
  setup_header header;
  std::memset(&header, 0, sizeof(header));
  header.setup_sects = 4;
  header.boot_flag = 0xaa55;
  header.jump = 0xeb | ((0x26c - 0x202) << 8);  // a short jump to the header's end, 0x26c
  header.header = 0x53726448;                   // "HdrS"
  header.version = 0x020f;
  header.loadflags = LOADED_HIGH;
  header.xloadflags = XLF_KERNEL_64;
  header.relocatable_kernel = 1;
  header.kernel_alignment = 0x200000;
  header.pref_address = 0x1000000;
  header.init_size = 0x800000;
  header.cmdline_size = 2047;
  header.initrd_addr_max = 0x7fffffff;
  return header;
}

// Boot sector + setup sectors (filled with 0x5e, the header at 0x1f1), then `payload_size`
// bytes of protected-mode "kernel".
inline std::vector<uint8_t> BuildBzImage(const setup_header& header, size_t payload_size) {
  const size_t setup_sectors = header.setup_sects == 0 ? 4 : header.setup_sects;
  std::vector<uint8_t> image((1 + setup_sectors) * 512, 0x5e);
  std::memcpy(image.data() + 0x1f1, &header, sizeof(header));
  for (size_t i = 0; i < payload_size; ++i) image.push_back(static_cast<uint8_t>((i * 7 + 3) % 251));
  return image;
}

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_IMAGE_BUILDER_H_

