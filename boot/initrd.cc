#include "boot/initrd.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "boot/layout.h"

namespace vmmd {

absl::StatusOr<GuestAddress> InitrdLoadAddress(const GuestMemory& memory, uint64_t size,
                                               uint64_t addr_max) {
  const uint64_t low_ram = memory.low_region().size;
  const uint64_t top = std::min(low_ram, addr_max + 1);  // addr_max < 4 GiB: no overflow
  if (size == 0 || size > top ||
      GuestAddress(top - size).AlignDown(layout::kPageSize).value() <
          layout::kInitrdLowHeadroom) {
    return absl::OutOfRangeError(absl::StrFormat(
        "initrd of %d bytes does not fit: it must end by %#x and leave the first %d MiB of RAM "
        "to the kernel; guest RAM below 3 GiB is %d bytes",
        size, top, layout::kInitrdLowHeadroom >> 20, low_ram));
  }
  const GuestAddress address = GuestAddress(top - size).AlignDown(layout::kPageSize);
  return address;
}

}  // namespace vmmd
