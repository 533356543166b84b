// Loads a kernel image of either format and picks how to enter it:
//   ELF (vmlinux, test guests): the Linux 64-bit boot protocol at e_entry, or PVH at its
//     XEN_ELFNOTE_PHYS32_ENTRY;
//   bzImage: the 64-bit boot protocol at load address + 0x200.
#ifndef VMMD_BOOT_KERNEL_LOADER_H_
#define VMMD_BOOT_KERNEL_LOADER_H_

#include <asm/bootparam.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "boot/image_reader.h"
#include "kvm/guest_memory.h"

namespace vmmd {

enum class BootProtocol {
  kLinux64,  // 64-bit long mode, RSI = zero page (boot.rst, "64-bit Boot Protocol")
  kPvh,      // 32-bit flat protected mode, EBX = hvm_start_info
};

// What a client asks for: auto takes PVH when the kernel offers it, as Firecracker and Cloud
// Hypervisor do, and the 64-bit protocol otherwise.
enum class BootProtocolChoice { kAuto, kLinux64, kPvh };

// "auto" (or empty), "linux64", "pvh". INVALID_ARGUMENT otherwise, naming boot_protocol.
absl::StatusOr<BootProtocolChoice> ParseBootProtocol(absl::string_view name);
const char* BootProtocolName(BootProtocol protocol);  // "linux64" / "pvh"

struct KernelImage {
  std::string format;  // "elf" or "bzimage"
  BootProtocol protocol = BootProtocol::kLinux64;
  GuestAddress entry_point;
  GuestAddress start;
  GuestAddress end;  // the initrd must start above this
  std::optional<setup_header> header;  // a bzImage's, for the zero page
};

// Loads `image` into `memory`. Besides the loaders' own errors: INVALID_ARGUMENT when the
// image is neither ELF nor bzImage, or PVH is asked of a kernel without a PVH entry.
absl::StatusOr<KernelImage> LoadKernel(const ImageReader& image, GuestMemory& memory,
                                       BootProtocolChoice choice);

}  // namespace vmmd

#endif  // VMMD_BOOT_KERNEL_LOADER_H_
