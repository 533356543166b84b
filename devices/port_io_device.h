// PortIoDevice: a device on the x86 I/O port bus. Called from vCPU threads, concurrently
// when a VM has several vCPUs; each device guards its own state.
#ifndef VMMD_DEVICES_PORT_IO_DEVICE_H_
#define VMMD_DEVICES_PORT_IO_DEVICE_H_

#include <cstdint>

#include "absl/types/span.h"

namespace vmmd {

class PortIoDevice {
 public:
  virtual ~PortIoDevice() = default;
  // `offset` is the port minus the device's base; `data` is 1, 2 or 4 bytes to fill.
  virtual void Read(uint16_t offset, absl::Span<uint8_t> data) = 0;
  // `data` is what the guest wrote (1, 2 or 4 bytes).
  virtual void Write(uint16_t offset, absl::Span<const uint8_t> data) = 0;
};

// Something a device raises to interrupt the guest (an irqfd in the daemon, a counter in tests).
class InterruptLine {
 public:
  virtual ~InterruptLine() = default;
  // Signals one edge on the line. Must be cheap and safe from any thread.
  virtual void Trigger() = 0;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_PORT_IO_DEVICE_H_
