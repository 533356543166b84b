// Loads a 64-bit x86 ELF kernel (vmlinux, or a test guest) into guest memory: each PT_LOAD
// segment at its physical address, its bss zeroed. Everything read from the file is
// validated first; nothing is written to guest memory unless the whole image checks out.
#ifndef VMMD_BOOT_ELF_LOADER_H_
#define VMMD_BOOT_ELF_LOADER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "boot/image_reader.h"
#include "kvm/guest_memory.h"

namespace vmmd {

struct LoadedKernel {
  GuestAddress entry_point;  // e_entry, the 64-bit entry
  GuestAddress start;        // lowest loaded address
  GuestAddress end;          // one past the highest loaded byte (bss included)
};

// Limits on what a kernel may claim. A real vmlinux has a handful of PT_LOAD segments.
inline constexpr uint16_t kMaxElfProgramHeaders = 64;

// INVALID_ARGUMENT for a malformed image, naming what is wrong: not ELF, 32-bit, not
// x86_64, not an executable, bad or absurd program headers, a segment whose file bytes lie
// beyond the image or whose memory size is smaller than its file size, an entry point
// outside the loaded segments. OUT_OF_RANGE for a segment outside guest RAM or below
// layout::kHighMemStart, where the boot structures live.
absl::StatusOr<LoadedKernel> LoadElfKernel(const ImageReader& image, GuestMemory& memory);

}  // namespace vmmd

#endif  // VMMD_BOOT_ELF_LOADER_H_
