// The i8042 keyboard controller at 0x60 (data) and 0x64 (status/command): enough for Linux
// to probe it and give up on a keyboard gracefully, and command 0xFE (pulse the reset line),
// which `reboot=k` guests use to reboot and which vmmd turns into "guest reset".
#ifndef VMMD_DEVICES_I8042_H_
#define VMMD_DEVICES_I8042_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "devices/port_io_device.h"

namespace vmmd {

// Everything an I8042 is, as a plain value: what a snapshot saves and Restore puts back.
struct I8042State {
  struct OutputByte {
    uint8_t value = 0;
    bool from_aux = false;  // shown as status bit 5 while it is the next byte
    friend bool operator==(const OutputByte& a, const OutputByte& b) {
      return a.value == b.value && a.from_aux == b.from_aux;
    }
  };
  uint8_t command_byte = 0x45;     // translate, system flag, kbd int
  uint8_t pending_command = 0;     // a command awaiting its data byte
  // Output port: bit 0 high = CPU running (not reset), bit 1 = A20 enabled.
  uint8_t output_port = 0x03;
  bool last_write_was_command = true;  // status bit 3
  std::deque<OutputByte> output;       // bytes for the guest at 0x60

  friend bool operator==(const I8042State& a, const I8042State& b) {
    return a.command_byte == b.command_byte && a.pending_command == b.pending_command &&
           a.output_port == b.output_port &&
           a.last_write_was_command == b.last_write_was_command && a.output == b.output;
  }
};

// Registered at port 0x60 with length 5 (0x60-0x64); offsets 0 and 4 are used, 1-3 belong
// to the PIT speaker port 0x61, which KVM handles in-kernel, so they read as 0xff.
//
// Commands on 0x64: 0x20/0x60 read/write the command byte, 0xa7/0xa8 and 0xad/0xae disable/
// enable the aux and keyboard ports (command byte bits 5 and 4), 0xaa self test (0x55),
// 0xa9/0xab interface tests (0x00), 0xd0/0xd1 read/write the output port, 0xd2/0xd3 echo the
// next data byte as keyboard/aux data, 0xd4 sends the next data byte to the aux device,
// 0xf0-0xff pulse output port lines. Other commands are ignored.
//
// No keyboard or mouse sits behind the controller: bytes for them (0x60 writes outside a
// command, and the data byte of 0xd4) are dropped without any answer, so guest drivers time
// out and report no device. The controller raises no interrupts (no IRQ 1 or 12); Linux's
// i8042 driver polls the status port for command answers.
//
// The reset line is pulsed by 0xfe and by any even command in 0xf0-0xfe (bit 0 of the
// pulse mask), and held by 0xd1 with output port bit 0 clear; each such command calls
// `on_reset` once.
class I8042 : public PortIoDevice {
 public:
  static constexpr uint16_t kBase = 0x60;
  static constexpr uint16_t kPortCount = 5;
  static constexpr uint8_t kCommandReset = 0xfe;

  // `on_reset` is called (from the vCPU thread) when the guest pulses the reset line.
  explicit I8042(std::function<void()> on_reset);

  void Read(uint16_t offset, absl::Span<uint8_t> data) override;
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override;

  // Bytes queued for the guest beyond this are dropped (a real controller holds one).
  static constexpr size_t kMaxOutputBytes = 16;

  I8042State state() const;
  // Puts back what state() read. INVALID_ARGUMENT for more than kMaxOutputBytes queued.
  absl::Status Restore(const I8042State& state);

 private:


  uint8_t StatusLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void PushOutputLocked(uint8_t value, bool from_aux) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Both return whether the write asks for a CPU reset; the caller runs on_reset_ unlocked.
  bool WriteCommandLocked(uint8_t command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool WriteDataLocked(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const std::function<void()> on_reset_;
  mutable Mutex mutex_;
  I8042State state_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_I8042_H_
