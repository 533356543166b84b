#include "devices/serial.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace vmmd {
namespace {

// Register offsets from the base port (PC16550D datasheet, "Register Summary").
// With LCR.DLAB set, offsets 0 and 1 are the divisor latch instead of RBR/THR and IER.
constexpr uint16_t kRbrThrDll = 0;  // receiver buffer (read) / transmitter holding (write)
constexpr uint16_t kIerDlm = 1;     // interrupt enable
constexpr uint16_t kIirFcr = 2;     // interrupt identification (read) / FIFO control (write)
constexpr uint16_t kLcr = 3;        // line control
constexpr uint16_t kMcr = 4;        // modem control
constexpr uint16_t kLsr = 5;        // line status
constexpr uint16_t kMsr = 6;        // modem status
constexpr uint16_t kScr = 7;        // scratch

// IER bits (datasheet, "Interrupt Enable Register"); bits 4-7 are always 0.
constexpr uint8_t kIerRxData = 0x01;      // ERBFI: received data available
constexpr uint8_t kIerThrEmpty = 0x02;    // ETBEI: transmitter holding register empty
constexpr uint8_t kIerLineStatus = 0x04;  // ELSI: receiver line status
constexpr uint8_t kIerModemStatus = 0x08; // EDSSI: modem status
constexpr uint8_t kIerMask = 0x0f;

// IIR values (datasheet, "Interrupt Control Functions" table): bit 0 clear means an
// interrupt is pending, bits 3:1 identify it; bits 7:6 are set when FCR bit 0 enabled the
// FIFOs (which is how Linux's 8250 driver tells a 16550A from a 16450).
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirModemStatus = 0x00;
constexpr uint8_t kIirFifosEnabled = 0xc0;

// FCR bits (datasheet, "FIFO Control Register").
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;  // self-clearing
constexpr uint8_t kFcrKept = 0xc9;     // enable, DMA mode select, RX trigger level

// LCR bit 7 (datasheet, "Line Control Register"): divisor latch access.
constexpr uint8_t kLcrDlab = 0x80;

// MCR bits (datasheet, "Modem Control Register"); bits 5-7 are always 0.
constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

// LSR bits (datasheet, "Line Status Register").
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrErrors = 0x1e;  // overrun, parity, framing, break: cleared by reading LSR
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;

// MSR bits (datasheet, "Modem Status Register"): the low nibble records changes since the
// last MSR read, the high nibble is the current state of CTS, DSR, RI and DCD.
constexpr uint8_t kMsrDeltaCts = 0x01;
constexpr uint8_t kMsrDeltaDsr = 0x02;
constexpr uint8_t kMsrTrailingEdgeRi = 0x04;
constexpr uint8_t kMsrDeltaDcd = 0x08;
constexpr uint8_t kMsrDeltas = 0x0f;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;
// Outside loopback the "modem" is always ready: carrier, data set ready, clear to send.
constexpr uint8_t kMsrConnected = kMsrDcd | kMsrDsr | kMsrCts;

// The modem inputs as loopback wires them (datasheet, MCR bit 4): RTS->CTS, DTR->DSR,
// OUT1->RI, OUT2->DCD.
uint8_t LoopbackModemInputs(uint8_t mcr) {
  uint8_t msr = 0;
  if (mcr & kMcrRts) msr |= kMsrCts;
  if (mcr & kMcrDtr) msr |= kMsrDsr;
  if (mcr & kMcrOut1) msr |= kMsrRi;
  if (mcr & kMcrOut2) msr |= kMsrDcd;
  return msr;
}

}  // namespace

Serial::Serial(InterruptLine* interrupt, std::function<void(uint8_t)> output)
    : interrupt_(interrupt), output_(std::move(output)) {}

void Serial::Read(uint16_t offset, absl::Span<uint8_t> data) {
  if (data.empty()) return;
  // Wider accesses act on the addressed register only; the other bytes read as 0.
  std::memset(data.data(), 0, data.size());
  MutexLock lock(&mutex_);
  data[0] = ReadRegisterLocked(offset);
}

void Serial::Write(uint16_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  MutexLock lock(&mutex_);
  WriteRegisterLocked(offset, data[0]);
}

bool Serial::TransmitCanBeDeferred() const {
  MutexLock lock(&mutex_);
  return !(state_.ier & kIerThrEmpty) && !(state_.mcr & kMcrLoop);
}

size_t Serial::EnqueueInput(absl::Span<const uint8_t> bytes) {
  MutexLock lock(&mutex_);
  // In loopback the serial input is disconnected from the receiver (datasheet, MCR bit 4).
  if (state_.mcr & kMcrLoop) return 0;
  const size_t room = kMaxInputBytes - std::min(state_.input.size(), kMaxInputBytes);
  const size_t queued = std::min(room, bytes.size());
  state_.input.insert(state_.input.end(), bytes.begin(), bytes.begin() + queued);
  UpdateInterruptLocked();
  return queued;
}

uint8_t Serial::InterruptIdentificationLocked() const {
  // Highest priority first (datasheet, "Interrupt Control Functions").
  if ((state_.ier & kIerLineStatus) && (state_.lsr & kLsrErrors)) return kIirLineStatus;
  if ((state_.ier & kIerRxData) && !state_.input.empty()) return kIirRxData;
  if ((state_.ier & kIerThrEmpty) && state_.thr_empty_pending) return kIirThrEmpty;
  if ((state_.ier & kIerModemStatus) && (state_.msr & kMsrDeltas)) return kIirModemStatus;
  return kIirNoInterrupt;
}

void Serial::UpdateInterruptLocked() {
  const bool pending = InterruptIdentificationLocked() != kIirNoInterrupt;
  // The irqfd injects an edge, so signal only when INTR rises; while it stays high the
  // guest's handler keeps draining until IIR reads "no interrupt".
  if (pending && !state_.interrupt_raised && interrupt_ != nullptr) interrupt_->Trigger();
  state_.interrupt_raised = pending;
}

void Serial::SetModemInputsLocked(uint8_t inputs) {
  const uint8_t old_inputs = state_.msr & ~kMsrDeltas;
  const uint8_t changed = old_inputs ^ inputs;
  uint8_t deltas = state_.msr & kMsrDeltas;
  if (changed & kMsrCts) deltas |= kMsrDeltaCts;
  if (changed & kMsrDsr) deltas |= kMsrDeltaDsr;
  if ((old_inputs & kMsrRi) && !(inputs & kMsrRi)) deltas |= kMsrTrailingEdgeRi;
  if (changed & kMsrDcd) deltas |= kMsrDeltaDcd;
  state_.msr = inputs | deltas;
}

void Serial::TransmitLocked(uint8_t value) {
  if (state_.mcr & kMcrLoop) {
    // Loopback: the transmitter output is wired to the receiver input (datasheet, MCR bit 4).
    if (state_.input.size() < kMaxInputBytes) {
      state_.input.push_back(value);
    } else {
      state_.lsr |= kLsrOverrun;
    }
  } else if (output_) {
    output_(value);
  }
}

uint8_t Serial::ReadRegisterLocked(uint16_t offset) {
  switch (offset) {
    case kRbrThrDll: {
      if (state_.lcr & kLcrDlab) return static_cast<uint8_t>(state_.divisor & 0xff);
      if (state_.input.empty()) return 0;
      const uint8_t value = state_.input.front();
      state_.input.pop_front();
      UpdateInterruptLocked();
      return value;
    }
    case kIerDlm:
      if (state_.lcr & kLcrDlab) return static_cast<uint8_t>(state_.divisor >> 8);
      return state_.ier;
    case kIirFcr: {
      const uint8_t id = InterruptIdentificationLocked();
      // Reading IIR while it reports THR empty clears that interrupt (datasheet,
      // "Interrupt Control Functions": reset by "reading the IIR (if source of interrupt)").
      if (id == kIirThrEmpty) {
        state_.thr_empty_pending = false;
        UpdateInterruptLocked();
      }
      return id | ((state_.fcr & kFcrEnable) ? kIirFifosEnabled : 0);
    }
    case kLcr:
      return state_.lcr;
    case kMcr:
      return state_.mcr;
    case kLsr: {
      const uint8_t value = state_.lsr | (state_.input.empty() ? 0 : kLsrDataReady);
      state_.lsr &= ~kLsrErrors;
      UpdateInterruptLocked();
      return value;
    }
    case kMsr: {
      const uint8_t value = state_.msr;
      state_.msr &= ~kMsrDeltas;
      UpdateInterruptLocked();
      return value;
    }
    case kScr:
      return state_.scr;
    default:
      return 0xff;  // not a 16550 register; only reachable through a too-long registration
  }
}

void Serial::WriteRegisterLocked(uint16_t offset, uint8_t value) {
  switch (offset) {
    case kRbrThrDll:
      if (state_.lcr & kLcrDlab) {
        state_.divisor = static_cast<uint16_t>((state_.divisor & 0xff00) | value);
        return;
      }
      // Writing THR clears a THR-empty interrupt; the byte leaves at once, so THR is empty
      // again and the interrupt comes back, as a fresh edge.
      state_.thr_empty_pending = false;
      UpdateInterruptLocked();
      TransmitLocked(value);
      state_.lsr |= kLsrThrEmpty | kLsrTransmitterEmpty;
      state_.thr_empty_pending = true;
      UpdateInterruptLocked();
      return;
    case kIerDlm: {
      if (state_.lcr & kLcrDlab) {
        state_.divisor = static_cast<uint16_t>((state_.divisor & 0x00ff) | (value << 8));
        return;
      }
      const uint8_t enabled = static_cast<uint8_t>(value & ~state_.ier);
      state_.ier = value & kIerMask;
      // A 16550A raises THR empty as soon as ETBEI is set while THR is empty; Linux's 8250
      // driver probes for this (UART_BUG_THRE) and relies on it to start transmitting.
      if ((enabled & kIerThrEmpty) && (state_.lsr & kLsrThrEmpty)) state_.thr_empty_pending = true;
      UpdateInterruptLocked();
      return;
    }
    case kIirFcr:
      // Changing FIFO enable, or the RX clear bit, empties the receive FIFO (datasheet, FCR
      // bits 0-1). The transmit side is always empty here, so FCR bit 2 has nothing to clear.
      if ((value & kFcrClearRx) || ((value ^ state_.fcr) & kFcrEnable)) state_.input.clear();
      state_.fcr = value & kFcrKept;
      UpdateInterruptLocked();
      return;
    case kLcr:
      state_.lcr = value;
      return;
    case kMcr:
      state_.mcr = value & kMcrMask;
      SetModemInputsLocked((state_.mcr & kMcrLoop) ? LoopbackModemInputs(state_.mcr) : kMsrConnected);
      UpdateInterruptLocked();
      return;
    case kLsr:
    case kMsr:
      return;  // read-only here (writes are for factory test on real parts)
    case kScr:
      state_.scr = value;
      return;
    default:
      return;
  }
}

SerialState Serial::state() const {
  MutexLock lock(&mutex_);
  return state_;
}

absl::Status Serial::Restore(const SerialState& state) {
  if (state.input.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError(absl::StrCat("serial input holds ", state.input.size(),
                                                   " bytes; the limit is ", kMaxInputBytes));
  }
  MutexLock lock(&mutex_);
  state_ = state;
  return absl::OkStatus();
}

}  // namespace vmmd
