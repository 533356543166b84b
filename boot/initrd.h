// Where the initial ramdisk goes.
#ifndef VMMD_BOOT_INITRD_H_
#define VMMD_BOOT_INITRD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// The highest page-aligned address at which `size` bytes fit at the top of RAM below the
// MMIO gap, as dbs-boot's initrd_load_addr does: it requires layout::kInitrdLowHeadroom
// (32 MiB) of that RAM to stay free for the kernel. The initrd also ends at or below
// `addr_max` + 1 (the kernel's initrd_addr_max, boot.rst; 0x37ffffff for protocols < 2.03).
// `addr_max` is below 4 GiB. OUT_OF_RANGE when the initrd does not fit, naming the sizes.
absl::StatusOr<GuestAddress> InitrdLoadAddress(const GuestMemory& memory, uint64_t size,
                                               uint64_t addr_max = 0xffffffff);

}  // namespace vmmd

#endif  // VMMD_BOOT_INITRD_H_
