// MmioBus: routes guest MMIO accesses (KVM_EXIT_MMIO) to the device whose window holds the
// address. Devices are registered before any vCPU runs; afterwards the bus is only read, so
// vCPU threads use it without a lock.
#ifndef VMMD_DEVICES_MMIO_BUS_H_
#define VMMD_DEVICES_MMIO_BUS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "devices/address_ranges.h"
#include "devices/mmio_device.h"

namespace vmmd {

class MmioBus {
 public:
  // Claims [base, base + length) for `device` (not owned; must outlive the bus).
  // INVALID_ARGUMENT for an empty or wrapping window, ALREADY_EXISTS when it overlaps one.
  absl::Status Register(uint64_t base, uint64_t length, MmioDevice* device) {
    return ranges_.Claim(base, length, device);
  }

  // Dispatches an access. Outside every window a read returns all ones (nothing drives the
  // bus) and a write is dropped; both are counted. Returns whether a device handled it.
  bool Read(uint64_t address, absl::Span<uint8_t> data);
  bool Write(uint64_t address, absl::Span<const uint8_t> data);

  uint64_t unhandled_reads() const { return unhandled_reads_.load(std::memory_order_relaxed); }
  uint64_t unhandled_writes() const { return unhandled_writes_.load(std::memory_order_relaxed); }

 private:
  AddressRanges<MmioDevice> ranges_{/*space_end=*/0};
  std::atomic<uint64_t> unhandled_reads_{0};
  std::atomic<uint64_t> unhandled_writes_{0};
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_MMIO_BUS_H_
