// A 16550A UART (COM1 at 0x3f8, 8 ports), enough for Linux's 8250 driver and earlyprintk:
// divisor latch (DLAB), IER/IIR with THR-empty and receive-data interrupts, FCR, LCR, MCR
// (including loopback, which the 8250 driver uses to probe), LSR with THRE/TEMT, MSR, SCR.
// Transmitted bytes go to `output`; the interrupt goes out through `interrupt` (IRQ 4).
// Register layout per the PC16550D datasheet, "Register Summary".
//
// Simplifications: a byte written to THR is transmitted at once (THR never stays full);
// received bytes wait in one queue of up to kMaxInputBytes whether or not FIFOs are enabled,
// and any of them raises "received data available" (no trigger levels, no character
// timeout). Accesses wider than a byte act on the addressed register; extra read bytes are 0.
#ifndef VMMD_DEVICES_SERIAL_H_
#define VMMD_DEVICES_SERIAL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/types/span.h"
#include "devices/port_io_device.h"

namespace vmmd {

// Everything a Serial is, as a plain value: what a snapshot saves and Restore puts back.
struct SerialState {
  uint8_t ier = 0;
  uint8_t lcr = 0x03;  // 8N1
  uint8_t mcr = 0x08;  // OUT2
  uint8_t lsr = 0x60;  // THRE | TEMT
  uint8_t msr = 0xb0;  // DCD | DSR | CTS
  uint8_t scr = 0;
  uint8_t fcr = 0;
  uint16_t divisor = 12;           // 9600 baud
  bool thr_empty_pending = false;  // THR-empty interrupt source
  bool interrupt_raised = false;   // level of the INTR output
  std::deque<uint8_t> input;       // received bytes the guest has not read

  friend bool operator==(const SerialState& a, const SerialState& b) {
    return a.ier == b.ier && a.lcr == b.lcr && a.mcr == b.mcr && a.lsr == b.lsr &&
           a.msr == b.msr && a.scr == b.scr && a.fcr == b.fcr && a.divisor == b.divisor &&
           a.thr_empty_pending == b.thr_empty_pending &&
           a.interrupt_raised == b.interrupt_raised && a.input == b.input;
  }
};

class Serial : public PortIoDevice {
 public:
  static constexpr uint16_t kCom1Base = 0x3f8;
  static constexpr uint16_t kPortCount = 8;
  static constexpr uint32_t kCom1Irq = 4;

  // `output` receives each transmitted byte; it is called with the device lock held, so it
  // must not call back into the device. `interrupt` may be null (no interrupts).
  Serial(InterruptLine* interrupt, std::function<void(uint8_t)> output);

  void Read(uint16_t offset, absl::Span<uint8_t> data) override;
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override;

  // Whether a THR write may reach this device later than the guest made it, provided it
  // arrives before the guest's next UART access that does reach it (the VMM can then let KVM
  // queue THR writes instead of exiting on each one, and replay them before any other exit).
  // That holds while a THR write can raise no interrupt: the THR-empty interrupt disabled and
  // the UART out of loopback (where the byte would come back as received data). Everything
  // else a THR write changes, the guest can only see by reading a register, which replays the
  // queue first. Changes only on IER and MCR writes.
  bool TransmitCanBeDeferred() const;

  // Queues bytes for the guest to receive (console input). Bounded: bytes beyond
  // kMaxInputBytes are dropped. Returns how many were queued (0 while the guest holds the
  // UART in loopback, which disconnects the serial input).
  static constexpr size_t kMaxInputBytes = 4096;
  size_t EnqueueInput(absl::Span<const uint8_t> bytes);

  SerialState state() const;
  // Puts back what state() read (of this or another Serial). INVALID_ARGUMENT, naming the
  // field, for more than kMaxInputBytes of input. Raises no interrupt: the interrupt
  // controller's own restored state already holds what was in flight.
  absl::Status Restore(const SerialState& state);

 private:
  // Recomputes IIR from the pending sources and calls interrupt_->Trigger() when the
  // interrupt output goes from idle to pending: KVM's irqfd injects an edge on IRQ 4.
  void UpdateInterruptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // IIR bits 3:0 for the highest-priority pending interrupt, or 0x01 for none.
  uint8_t InterruptIdentificationLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Sets MSR's high nibble (CTS, DSR, RI, DCD) and records the changes in its low nibble.
  void SetModemInputsLocked(uint8_t inputs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Sends a THR byte to output_, or back to the receiver in loopback mode.
  void TransmitLocked(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  uint8_t ReadRegisterLocked(uint16_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void WriteRegisterLocked(uint16_t offset, uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  InterruptLine* const interrupt_;
  const std::function<void(uint8_t)> output_;

  mutable Mutex mutex_;
  SerialState state_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_SERIAL_H_
