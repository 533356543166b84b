// IoBus: routes guest port accesses to the device that claims the port. Devices are
// registered before any vCPU runs; afterwards the bus is only read, so vCPU threads use it
// without a lock.
#ifndef VMMD_DEVICES_IO_BUS_H_
#define VMMD_DEVICES_IO_BUS_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
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
  struct Range {
    uint16_t base;
    uint32_t end;  // exclusive; 32 bits so that a range may end at 0x10000
    PortIoDevice* device;
  };
  // The device whose range holds `port`, with `port` made relative to it; nullptr if none.
  PortIoDevice* Find(uint16_t port, uint16_t* offset) const;

  std::vector<Range> ranges_;  // sorted by base
  std::atomic<uint64_t> unhandled_reads_{0};
  std::atomic<uint64_t> unhandled_writes_{0};
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_IO_BUS_H_
