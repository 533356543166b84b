#include "boot/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"

namespace vmmd {
namespace {

absl::Status Invalid(const absl::FormatSpec<>& message) {
  return absl::InvalidArgumentError(absl::StrFormat(message));
}

absl::Status CheckHeader(const Elf64_Ehdr& header) {
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    return Invalid("kernel image is not an ELF file (bad magic)");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF class is %d; only 64-bit ELF (ELFCLASS64) kernels are supported",
        header.e_ident[EI_CLASS]));
  }
  if (header.e_ident[EI_DATA] != ELFDATA2LSB) return Invalid("kernel ELF is not little-endian");
  if (header.e_machine != EM_X86_64) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF machine is %d; only x86_64 (EM_X86_64 = %d) is supported", header.e_machine,
        EM_X86_64));
  }
  if (header.e_type != ET_EXEC) {
    return absl::InvalidArgumentError(
        absl::StrFormat("kernel ELF type is %d; an executable (ET_EXEC) is required", header.e_type));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF program header size is %d; expected %d", header.e_phentsize, sizeof(Elf64_Phdr)));
  }
  if (header.e_phnum == 0 || header.e_phnum > kMaxElfProgramHeaders) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF has %d program headers; 1 to %d are accepted", header.e_phnum,
        kMaxElfProgramHeaders));
  }
  return absl::OkStatus();
}

absl::Status CheckSegment(const Elf64_Phdr& segment, int index, const ImageReader& image,
                          const GuestMemory& memory) {
  if (segment.p_filesz > segment.p_memsz) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF segment %d: file size %#x exceeds memory size %#x", index, segment.p_filesz,
        segment.p_memsz));
  }
  if (segment.p_offset > image.size() || segment.p_filesz > image.size() - segment.p_offset) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF segment %d: file bytes [%#x, +%#x) lie beyond the %d-byte image", index,
        segment.p_offset, segment.p_filesz, image.size()));
  }
  if (segment.p_paddr < layout::kHighMemStart) {
    return absl::OutOfRangeError(absl::StrFormat(
        "kernel ELF segment %d loads at %#x, below %#x where the boot structures live", index,
        segment.p_paddr, layout::kHighMemStart));
  }
  if (!memory.Contains(GuestAddress(segment.p_paddr), segment.p_memsz)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "kernel ELF segment %d: [%#x, +%#x) is not inside guest RAM (%d MiB)", index,
        segment.p_paddr, segment.p_memsz, memory.size() >> 20));
  }
  return absl::OkStatus();
}

// Reads a segment's file bytes into guest memory, then zeroes its bss.
absl::Status CopySegment(const Elf64_Phdr& segment, const ImageReader& image, GuestMemory& memory) {
  RETURN_IF_ERROR(ReadImageIntoGuest(image, segment.p_offset, segment.p_filesz, memory,
                                     GuestAddress(segment.p_paddr)));
  return memory.Fill(GuestAddress(segment.p_paddr + segment.p_filesz), 0,
                     segment.p_memsz - segment.p_filesz);
}

}  // namespace

absl::StatusOr<LoadedKernel> LoadElfKernel(const ImageReader& image, GuestMemory& memory) {
  Elf64_Ehdr header;
  if (image.size() < sizeof(header)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel image is %d bytes, too short for an ELF header (%d bytes)", image.size(),
        sizeof(header)));
  }
  RETURN_IF_ERROR(image.ReadAt(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(&header), sizeof(header))));
  RETURN_IF_ERROR(CheckHeader(header));

  std::vector<Elf64_Phdr> headers(header.e_phnum);
  absl::Status read = image.ReadAt(
      header.e_phoff,
      absl::MakeSpan(reinterpret_cast<uint8_t*>(headers.data()), headers.size() * sizeof(Elf64_Phdr)));
  if (!read.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel ELF program headers are truncated: ", read.message()));
  }

  // Validate every loadable segment before writing anything.
  std::vector<const Elf64_Phdr*> loads;
  uint64_t low = UINT64_MAX, high = 0;
  for (int i = 0; i < header.e_phnum; ++i) {
    const Elf64_Phdr& segment = headers[i];
    if (segment.p_type != PT_LOAD || segment.p_memsz == 0) continue;
    RETURN_IF_ERROR(CheckSegment(segment, i, image, memory));
    loads.push_back(&segment);
    low = std::min(low, segment.p_paddr);
    high = std::max(high, segment.p_paddr + segment.p_memsz);
  }
  if (loads.empty()) return Invalid("kernel ELF has no loadable (PT_LOAD) segment");
  // Linux's vmlinux gives e_entry as a physical address (ENTRY(phys_startup_64)); other
  // linkers give a virtual one. Take it as physical when a segment holds it there, else
  // translate it through the segment that holds it virtually.
  std::optional<uint64_t> entry;
  for (const Elf64_Phdr* segment : loads) {
    if (header.e_entry >= segment->p_paddr && header.e_entry - segment->p_paddr < segment->p_memsz) {
      entry = header.e_entry;
      break;
    }
  }
  for (const Elf64_Phdr* segment : loads) {
    if (entry) break;
    if (header.e_entry >= segment->p_vaddr && header.e_entry - segment->p_vaddr < segment->p_memsz) {
      entry = segment->p_paddr + (header.e_entry - segment->p_vaddr);
    }
  }
  if (!entry) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel ELF entry point %#x lies outside its loadable segments", header.e_entry));
  }

  for (const Elf64_Phdr* segment : loads) RETURN_IF_ERROR(CopySegment(*segment, image, memory));
  return LoadedKernel{GuestAddress(*entry), GuestAddress(low), GuestAddress(high)};
}

}  // namespace vmmd
