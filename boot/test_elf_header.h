// For tests and fuzzers that build kernel images: the header of an ELF64 x86_64 executable
// whose `phnum` program headers follow it directly (layout from <elf.h>).
#ifndef VMMD_BOOT_TEST_ELF_HEADER_H_
#define VMMD_BOOT_TEST_ELF_HEADER_H_

#include <elf.h>

#include <cstdint>
#include <cstring>

namespace vmmd::testing {

inline Elf64_Ehdr X86_64ExecutableHeader(uint64_t entry, uint16_t phnum) {
  Elf64_Ehdr header = {};
  std::memcpy(header.e_ident, ELFMAG, SELFMAG);
  header.e_ident[EI_CLASS] = ELFCLASS64;
  header.e_ident[EI_DATA] = ELFDATA2LSB;
  header.e_ident[EI_VERSION] = EV_CURRENT;
  header.e_type = ET_EXEC;
  header.e_machine = EM_X86_64;
  header.e_version = EV_CURRENT;
  header.e_entry = entry;
  header.e_phoff = sizeof(Elf64_Ehdr);
  header.e_ehsize = sizeof(Elf64_Ehdr);
  header.e_phentsize = sizeof(Elf64_Phdr);
  header.e_phnum = phnum;
  return header;
}

}  // namespace vmmd::testing

#endif  // VMMD_BOOT_TEST_ELF_HEADER_H_
