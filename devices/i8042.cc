#include "devices/i8042.h"

#include "absl/strings/str_cat.h"

#include <cstring>
#include <utility>

namespace vmmd {
namespace {

// Port offsets from kBase: 0x60 is the data port, 0x64 the status (read) / command (write)
// port (IBM PS/2 Hardware Interface Technical Reference, "Keyboard/Auxiliary Device
// Controller"; also https://wiki.osdev.org/%228042%22_PS/2_Controller).
constexpr uint16_t kDataOffset = 0;
constexpr uint16_t kCommandOffset = 4;

// Status register bits (same reference, "Status Register").
constexpr uint8_t kStatusOutputFull = 0x01;     // a byte waits at 0x60
constexpr uint8_t kStatusSystemFlag = 0x04;     // mirrors command byte bit 2
constexpr uint8_t kStatusLastWasCommand = 0x08; // last write went to 0x64 rather than 0x60
constexpr uint8_t kStatusNotInhibited = 0x10;   // keyboard lock switch open
constexpr uint8_t kStatusAuxOutputFull = 0x20;  // the waiting byte is from the aux port

// Command byte bits (same reference, "Command Byte").
constexpr uint8_t kCommandByteSystemFlag = 0x04;
constexpr uint8_t kCommandByteKeyboardDisabled = 0x10;
constexpr uint8_t kCommandByteAuxDisabled = 0x20;

// Controller commands written to 0x64 (same reference, "Commands").
constexpr uint8_t kReadCommandByte = 0x20;
constexpr uint8_t kWriteCommandByte = 0x60;    // + data byte
constexpr uint8_t kDisableAux = 0xa7;
constexpr uint8_t kEnableAux = 0xa8;
constexpr uint8_t kTestAux = 0xa9;             // -> 0x00: no error
constexpr uint8_t kSelfTest = 0xaa;            // -> 0x55: passed
constexpr uint8_t kTestKeyboard = 0xab;        // -> 0x00: no error
constexpr uint8_t kDisableKeyboard = 0xad;
constexpr uint8_t kEnableKeyboard = 0xae;
constexpr uint8_t kReadOutputPort = 0xd0;
constexpr uint8_t kWriteOutputPort = 0xd1;     // + data byte
constexpr uint8_t kWriteKeyboardOutput = 0xd2; // + data byte, echoed as keyboard data
constexpr uint8_t kWriteAuxOutput = 0xd3;      // + data byte, echoed as aux data
constexpr uint8_t kWriteAux = 0xd4;            // + data byte, sent to the aux device
// 0xf0-0xff pulse output port bits 3:0 low where the command's bits 3:0 are 0; bit 0 is the
// CPU reset line, so every even command in the range (0xfe among them) resets.
constexpr uint8_t kPulseOutputPortMask = 0xf0;
constexpr uint8_t kOutputPortReset = 0x01;  // output port bit 0: 0 holds the CPU in reset

constexpr uint8_t kSelfTestPassed = 0x55;
constexpr uint8_t kInterfaceTestPassed = 0x00;

}  // namespace

I8042::I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

void I8042::Read(uint16_t offset, absl::Span<uint8_t> data) {
  if (data.empty()) return;
  // Wider accesses act on the addressed port only; the ports after it are not ours.
  std::memset(data.data(), 0xff, data.size());
  MutexLock lock(&mutex_);
  if (offset == kDataOffset) {
    if (state_.output.empty()) {
      data[0] = 0;  // nothing waiting; drivers check status bit 0 first
    } else {
      data[0] = state_.output.front().value;
      state_.output.pop_front();
    }
  } else if (offset == kCommandOffset) {
    data[0] = StatusLocked();
  }
}

void I8042::Write(uint16_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  bool reset = false;
  {
    MutexLock lock(&mutex_);
    if (offset == kDataOffset) {
      state_.last_write_was_command = false;
      reset = WriteDataLocked(data[0]);
    } else if (offset == kCommandOffset) {
      state_.last_write_was_command = true;
      reset = WriteCommandLocked(data[0]);
    }
  }
  // Outside the lock, so that the callback may do anything, even touch this device.
  if (reset && on_reset_) on_reset_();
}

uint8_t I8042::StatusLocked() const {
  uint8_t status = kStatusNotInhibited;
  if (state_.command_byte & kCommandByteSystemFlag) status |= kStatusSystemFlag;
  if (state_.last_write_was_command) status |= kStatusLastWasCommand;
  if (!state_.output.empty()) {
    status |= kStatusOutputFull;
    if (state_.output.front().from_aux) status |= kStatusAuxOutputFull;
  }
  return status;
}

void I8042::PushOutputLocked(uint8_t value, bool from_aux) {
  // A guest that issues commands without reading the answers must not grow the queue.
  if (state_.output.size() < kMaxOutputBytes) state_.output.push_back({value, from_aux});
}

bool I8042::WriteCommandLocked(uint8_t command) {
  // A new command abandons one still waiting for its data byte, as on the real controller.
  state_.pending_command = 0;
  switch (command) {
    case kReadCommandByte:
      PushOutputLocked(state_.command_byte, /*from_aux=*/false);
      return false;
    case kWriteCommandByte:
    case kWriteOutputPort:
    case kWriteKeyboardOutput:
    case kWriteAuxOutput:
    case kWriteAux:
      state_.pending_command = command;
      return false;
    case kDisableAux:
      state_.command_byte |= kCommandByteAuxDisabled;
      return false;
    case kEnableAux:
      state_.command_byte &= ~kCommandByteAuxDisabled;
      return false;
    case kTestAux:
    case kTestKeyboard:
      PushOutputLocked(kInterfaceTestPassed, /*from_aux=*/false);
      return false;
    case kSelfTest:
      PushOutputLocked(kSelfTestPassed, /*from_aux=*/false);
      return false;
    case kDisableKeyboard:
      state_.command_byte |= kCommandByteKeyboardDisabled;
      return false;
    case kEnableKeyboard:
      state_.command_byte &= ~kCommandByteKeyboardDisabled;
      return false;
    case kReadOutputPort:
      PushOutputLocked(state_.output_port, /*from_aux=*/false);
      return false;
    default:
      if ((command & kPulseOutputPortMask) == kPulseOutputPortMask) {
        return (command & kOutputPortReset) == 0;
      }
      return false;  // unknown commands are ignored
  }
}

bool I8042::WriteDataLocked(uint8_t value) {
  const uint8_t command = std::exchange(state_.pending_command, 0);
  switch (command) {
    case kWriteCommandByte:
      state_.command_byte = value;
      return false;
    case kWriteOutputPort:
      state_.output_port = value;
      return (value & kOutputPortReset) == 0;
    case kWriteKeyboardOutput:
      PushOutputLocked(value, /*from_aux=*/false);
      return false;
    case kWriteAuxOutput:
      PushOutputLocked(value, /*from_aux=*/true);
      return false;
    case kWriteAux:
      // No mouse is attached: the byte is dropped and nothing answers, neither an ACK (0xfa)
      // nor a resend/error (0xfe), so the guest's driver times out and finds no device.
      return false;
    default:
      // A byte for the keyboard itself. There is no keyboard behind the controller, so it
      // is dropped and the guest's keyboard probe times out.
      return false;
  }
}

I8042State I8042::state() const {
  MutexLock lock(&mutex_);
  return state_;
}

absl::Status I8042::Restore(const I8042State& state) {
  if (state.output.size() > kMaxOutputBytes) {
    return absl::InvalidArgumentError(absl::StrCat("i8042 output holds ", state.output.size(),
                                                   " bytes; the limit is ", kMaxOutputBytes));
  }
  MutexLock lock(&mutex_);
  state_ = state;
  return absl::OkStatus();
}

}  // namespace vmmd
