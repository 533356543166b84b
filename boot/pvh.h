// PVH boot (Xen's direct boot ABI, which Linux, Firecracker and Cloud Hypervisor use without
// Xen): the kernel names a 32-bit entry point in an ELF note, and is entered in flat
// protected mode, paging off, with EBX pointing at a struct hvm_start_info that carries the
// command line, the initrd (as a module) and the memory map.
// Layouts from xen/include/public/arch-x86/hvm/start_info.h and xen/include/public/elfnote.h.
#ifndef VMMD_BOOT_PVH_H_
#define VMMD_BOOT_PVH_H_

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "boot/e820.h"
#include "boot/image_reader.h"
#include "kvm/guest_memory.h"

namespace vmmd {

inline constexpr uint32_t kXenElfNotePhys32Entry = 18;  // XEN_ELFNOTE_PHYS32_ENTRY
inline constexpr uint32_t kHvmStartMagic = 0x336ec578;  // XEN_HVM_START_MAGIC_VALUE

struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;  // 1: memmap fields present
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // the e820 types
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

// Notes we read at most per image, and bytes per note: a vmlinux has a dozen small ones.
inline constexpr int kMaxElfNotes = 256;

// The PVH entry (physical, 32-bit) from an ELF64 image's XEN_ELFNOTE_PHYS32_ENTRY note, or
// nullopt when it has none. INVALID_ARGUMENT for notes that lie beyond the file or their
// segment, or an entry note of the wrong size. The ELF header itself is validated by
// LoadElfKernel.
absl::StatusOr<std::optional<uint32_t>> FindPvhEntry(const ImageReader& image);

struct PvhContents {
  GuestAddress cmdline;
  GuestAddress initrd;
  uint64_t initrd_size = 0;  // 0: no module
  absl::Span<const E820Entry> memory_map;
  GuestAddress rsdp;  // the ACPI RSDP, or 0
};

// Writes hvm_start_info, its module list and memory map (layout::kPvhStartInfo...) and
// returns the start_info address (for EBX). OUT_OF_RANGE if they do not fit.
absl::StatusOr<GuestAddress> WritePvhStartInfo(GuestMemory& memory, const PvhContents& contents);

}  // namespace vmmd

#endif  // VMMD_BOOT_PVH_H_
