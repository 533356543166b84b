// The i8042 keyboard controller at 0x60 (data) and 0x64 (status/command): enough for Linux
// to probe it and give up on a keyboard gracefully, and command 0xFE (pulse the reset line),
// which `reboot=k` guests use to reboot and which vmmd turns into "guest reset".
#ifndef VMMD_DEVICES_I8042_H_
#define VMMD_DEVICES_I8042_H_

#include <cstdint>
#include <deque>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "devices/port_io_device.h"

namespace vmmd {

// Registered at port 0x60 with length 5 (0x60-0x64); offsets 0 and 4 are used, 1-3 belong
// to the PIT speaker port 0x61, which KVM handles in-kernel, so they read as 0xff.
class I8042 : public PortIoDevice {
 public:
  static constexpr uint16_t kBase = 0x60;
  static constexpr uint16_t kPortCount = 5;
  static constexpr uint8_t kCommandReset = 0xfe;

  // `on_reset` is called (from the vCPU thread) when the guest pulses the reset line.
  explicit I8042(std::function<void()> on_reset);

  void Read(uint16_t offset, absl::Span<uint8_t> data) override;
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override;

 private:
  const std::function<void()> on_reset_;
  absl::Mutex mutex_;
  uint8_t command_byte_ ABSL_GUARDED_BY(mutex_) = 0x45;  // translate, system flag, kbd int
  uint8_t pending_command_ ABSL_GUARDED_BY(mutex_) = 0;  // a command awaiting its data byte
  std::deque<uint8_t> output_ ABSL_GUARDED_BY(mutex_);   // bytes for the guest at 0x60
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_I8042_H_
