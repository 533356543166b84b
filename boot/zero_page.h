// The zero page: the kernel's own struct boot_params (<asm/bootparam.h>), filled in as
// Documentation/arch/x86/boot.rst asks of a boot loader.
#ifndef VMMD_BOOT_ZERO_PAGE_H_
#define VMMD_BOOT_ZERO_PAGE_H_

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "boot/e820.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// boot.rst, "The Real-Mode Kernel Header".
inline constexpr uint16_t kBootFlagMagic = 0xaa55;             // boot_flag
inline constexpr uint32_t kSetupHeaderMagic = 0x53726448;       // header: "HdrS"
inline constexpr uint8_t kLoaderTypeUndefined = 0xff;           // type_of_loader: "undefined"
inline constexpr uint32_t kDefaultKernelAlignment = 0x01000000; // 16 MiB, the x86 default
inline constexpr uint16_t kHeapEndPointer = 0xde00;             // heap_end_ptr: 0xe000 - 0x200
inline constexpr uint16_t kVideoModeNormal = 0xffff;            // vid_mode: "normal"

struct ZeroPageContents {
  // The setup header of a bzImage, copied in first so the kernel sees its own fields;
  // absent for an ELF vmlinux, which gets the magic values above.
  std::optional<setup_header> kernel_header;
  GuestAddress cmdline;
  uint32_t cmdline_size = 0;  // bytes, NUL included
  GuestAddress initrd;
  uint64_t initrd_size = 0;  // 0: no initrd
  const E820Map* e820 = nullptr;
  GuestAddress acpi_rsdp;  // the ACPI RSDP (boot_params.acpi_rsdp_addr), or 0
};

// The boot_params for `contents`. The initrd address and size are split across the 32-bit
// fields and their ext_ high halves.
boot_params BuildZeroPage(const ZeroPageContents& contents);

// Writes `params` at layout::kZeroPageStart. OUT_OF_RANGE if it does not fit in RAM.
absl::Status WriteZeroPage(GuestMemory& memory, const boot_params& params);

}  // namespace vmmd

#endif  // VMMD_BOOT_ZERO_PAGE_H_
