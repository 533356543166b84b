// MmioDevice: a device on the guest-physical MMIO bus (a window in the 3-4 GiB gap). Called
// from vCPU threads, concurrently when a VM has several vCPUs; each device guards its own
// state. Knows nothing of KVM_RUN: it answers accesses at offsets into its window.
#ifndef VMMD_DEVICES_MMIO_DEVICE_H_
#define VMMD_DEVICES_MMIO_DEVICE_H_

#include <cstdint>

#include "absl/types/span.h"

namespace vmmd {

class MmioDevice {
 public:
  virtual ~MmioDevice() = default;
  // `offset` is the address minus the window's base; `data` (1 to 8 bytes) is to be filled.
  virtual void Read(uint64_t offset, absl::Span<uint8_t> data) = 0;
  // `data` (1 to 8 bytes) is what the guest wrote.
  virtual void Write(uint64_t offset, absl::Span<const uint8_t> data) = 0;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_MMIO_DEVICE_H_
