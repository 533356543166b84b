// Loads a Linux bzImage for the 64-bit boot protocol (Documentation/arch/x86/boot.rst): the
// setup header is checked and kept for the zero page, and the protected-mode kernel is
// placed in guest memory, entered at its load address + 0x200 ("startup_64").
#ifndef VMMD_BOOT_BZIMAGE_LOADER_H_
#define VMMD_BOOT_BZIMAGE_LOADER_H_

#include <asm/bootparam.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "boot/image_reader.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// boot.rst: the setup header sits at 0x1f1; its magic values.
inline constexpr uint64_t kSetupHeaderOffset = 0x1f1;
inline constexpr uint16_t kBootProtocol64BitEntry = 0x020c;  // 2.12: xloadflags
inline constexpr uint64_t kStartup64Offset = 0x200;          // 64-bit entry in the PM code

struct LoadedBzImage {
  GuestAddress entry_point;  // load address + 0x200
  GuestAddress load_address;
  GuestAddress end;          // the kernel may use up to here while it decompresses (init_size)
  setup_header header;       // as in the image; the boot layer adds the loader's fields
};

// True when `image` starts like a bzImage (boot_flag 0xAA55 and "HdrS"); says nothing of
// whether it is valid.
bool LooksLikeBzImage(const ImageReader& image);

// INVALID_ARGUMENT, naming the field, for a truncated image, a wrong boot_flag or "HdrS"
// magic, a boot protocol older than 2.12, no 64-bit entry (XLF_KERNEL_64), not loaded high,
// or an absurd setup_sects. OUT_OF_RANGE when the kernel and the room it needs to decompress
// (init_size) do not fit in guest RAM.
absl::StatusOr<LoadedBzImage> LoadBzImage(const ImageReader& image, GuestMemory& memory);

}  // namespace vmmd

#endif  // VMMD_BOOT_BZIMAGE_LOADER_H_
