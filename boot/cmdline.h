// Placement of the kernel command line (boot_params.hdr.cmd_line_ptr).
#ifndef VMMD_BOOT_CMDLINE_H_
#define VMMD_BOOT_CMDLINE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// Writes `cmdline` and its terminating NUL at layout::kCmdlineStart.
// `kernel_limit` is the kernel's cmdline_size from its setup header (protocol 2.06+: the
// longest command line without the NUL), 0 when the kernel states none. The effective limit
// is the smaller of it and layout::kCmdlineMaxSize - 1.
// INVALID_ARGUMENT if the line is longer than the limit or holds a NUL byte.
absl::Status WriteCmdline(GuestMemory& memory, absl::string_view cmdline,
                          uint32_t kernel_limit = 0);

// The longest command line WriteCmdline accepts for `kernel_limit`.
uint64_t CmdlineLimit(uint32_t kernel_limit);

}  // namespace vmmd

#endif  // VMMD_BOOT_CMDLINE_H_
