// Placement of the kernel command line (boot_params.hdr.cmd_line_ptr), and the limit the
// kernel applies to it.
#ifndef VMMD_BOOT_CMDLINE_H_
#define VMMD_BOOT_CMDLINE_H_

#include <asm/bootparam.h>

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// x86 Linux copies at most COMMAND_LINE_SIZE (2048) bytes, NUL included, from an ELF entry
// (linux64 or PVH): copy_bootdata() in arch/x86/kernel/head64.c. A longer line would lose
// its tail in the guest while the client believes all of it arrived.
inline constexpr uint64_t kElfKernelCmdlineLimit = 2047;
// boot.rst: before protocol 2.06 the header has no cmdline_size, and the limit is 255.
inline constexpr uint64_t kLegacyCmdlineLimit = 255;

// The longest command line (NUL not counted) a kernel takes, and where that limit comes from.
struct CmdlineLimit {
  uint64_t bytes = 0;
  const char* source = "";
};

// For a bzImage, its header's cmdline_size (255 where it states none); for an ELF kernel
// (no header), kElfKernelCmdlineLimit. Never more than fits at layout::kCmdlineStart.
CmdlineLimit KernelCmdlineLimit(const std::optional<setup_header>& kernel_header);

// Writes `cmdline` and its terminating NUL at layout::kCmdlineStart. INVALID_ARGUMENT naming
// the limit and its source if the line is longer, or if it holds a NUL byte.
absl::Status WriteCmdline(GuestMemory& memory, absl::string_view cmdline,
                          const CmdlineLimit& limit);

}  // namespace vmmd

#endif  // VMMD_BOOT_CMDLINE_H_
