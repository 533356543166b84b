// PortWriteObserver: stands on the I/O bus in a device's place, forwards every access to it,
// and calls `after_write(offset)` after each guest write. The VM uses it to follow register
// changes that matter outside the device (COM1's IER and MCR decide whether its output may be
// queued in KVM) without the vCPU loop naming any device.
#ifndef VMMD_DEVICES_PORT_WRITE_OBSERVER_H_
#define VMMD_DEVICES_PORT_WRITE_OBSERVER_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "devices/port_io_device.h"

namespace vmmd {

class PortWriteObserver : public PortIoDevice {
 public:
  // `device` must outlive the observer. `after_write` runs on the writing vCPU's thread.
  PortWriteObserver(PortIoDevice& device, std::function<void(uint16_t offset)> after_write)
      : device_(device), after_write_(std::move(after_write)) {}

  void Read(uint16_t offset, absl::Span<uint8_t> data) override { device_.Read(offset, data); }
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override {
    device_.Write(offset, data);
    after_write_(offset);
  }

 private:
  PortIoDevice& device_;
  const std::function<void(uint16_t)> after_write_;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_PORT_WRITE_OBSERVER_H_
