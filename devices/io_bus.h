// IoBus: routes guest port accesses (KVM_EXIT_IO) to the device that claims the port.
// Devices are registered before any vCPU runs; afterwards the bus is only read, so vCPU
// threads use it without a lock.
#ifndef VMMD_DEVICES_IO_BUS_H_
#define VMMD_DEVICES_IO_BUS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "devices/address_ranges.h"
#include "devices/port_io_device.h"

namespace vmmd {

class IoBus {
 public:
  // Claims [base, base + length) for `device` (not owned; must outlive the bus).
  // INVALID_ARGUMENT for an empty or wrapping range, ALREADY_EXISTS when it overlaps a
  // registered device.
  absl::Status Register(uint16_t base, uint16_t length, PortIoDevice* device);

  // Dispatches an access. For a port nobody claims, a read returns all ones and a write is
  // dropped; both are counted. Returns whether a device handled it.
  bool Read(uint16_t port, absl::Span<uint8_t> data);
  bool Write(uint16_t port, absl::Span<const uint8_t> data);

  uint64_t unhandled_reads() const { return unhandled_reads_.load(std::memory_order_relaxed); }
  uint64_t unhandled_writes() const { return unhandled_writes_.load(std::memory_order_relaxed); }

 private:
  // x86 has a 16-bit I/O port space (Intel SDM Vol. 1, 18.2 "I/O Port Addressing").
  AddressRanges<PortIoDevice> ranges_{/*space_end=*/0x10000};
  std::atomic<uint64_t> unhandled_reads_{0};
  std::atomic<uint64_t> unhandled_writes_{0};
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_IO_BUS_H_
