#include "boot/cmdline.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"

namespace vmmd {

CmdlineLimit KernelCmdlineLimit(const std::optional<setup_header>& kernel_header) {
  constexpr uint64_t kRoom = layout::kCmdlineMaxSize - 1;  // one byte for the NUL
  if (!kernel_header) {
    return {kElfKernelCmdlineLimit, "x86 Linux's COMMAND_LINE_SIZE for ELF kernels (linux64, PVH)"};
  }
  if (kernel_header->cmdline_size == 0) {
    return {kLegacyCmdlineLimit, "the boot protocol's limit for a kernel without cmdline_size"};
  }
  if (kernel_header->cmdline_size > kRoom) {
    return {kRoom, "the room at the command line's guest address"};
  }
  return {kernel_header->cmdline_size, "the kernel's cmdline_size"};
}

absl::Status WriteCmdline(GuestMemory& memory, absl::string_view cmdline,
                          const CmdlineLimit& limit) {
  if (cmdline.size() > limit.bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cmdline is %d bytes; the limit is %d bytes (%s)", cmdline.size(), limit.bytes,
        limit.source));
  }
  if (cmdline.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("cmdline contains a NUL byte");
  }
  GuestAddress start(layout::kCmdlineStart);
  RETURN_IF_ERROR(memory.WriteBytes(
      start, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(cmdline.data()), cmdline.size())));
  return memory.Write<uint8_t>(start.UncheckedAdd(cmdline.size()), 0);
}

}  // namespace vmmd
