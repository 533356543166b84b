#include "boot/cmdline.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"

namespace vmmd {

uint64_t CmdlineLimit(uint32_t kernel_limit) {
  uint64_t limit = layout::kCmdlineMaxSize - 1;  // one byte for the NUL
  if (kernel_limit != 0) limit = std::min<uint64_t>(limit, kernel_limit);
  return limit;
}

absl::Status WriteCmdline(GuestMemory& memory, absl::string_view cmdline, uint32_t kernel_limit) {
  const uint64_t limit = CmdlineLimit(kernel_limit);
  if (cmdline.size() > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cmdline is %d bytes; the limit is %d bytes%s", cmdline.size(), limit,
        kernel_limit != 0 && kernel_limit <= layout::kCmdlineMaxSize - 1
            ? " (the kernel's cmdline_size)"
            : ""));
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
