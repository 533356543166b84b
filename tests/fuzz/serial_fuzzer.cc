// Fuzzes guest port I/O: COM1 (Serial), the i8042 and the IoBus that routes to them.
// Input, read through FuzzedDataProvider (seed_gen.cc writes seeds in the same order): a
// sequence of operations, each an opcode uint8 in [0, 4] and then
//   0  COM1 access:    write bool, offset uint8 in [0, 7], size index uint8 in [0, 2]
//                      (1, 2 or 4 bytes), and for a write the value uint32
//   1  console input:  count uint16 in [0, 5000], first byte uint8 (bytes first, first+1, ...)
//                      -> Serial::EnqueueInput
//   2  i8042 access:   write bool, offset uint8 in [0, 4], size index, value uint32 if write
//   3  any port:       write bool, port uint16, size index, value uint32 if write
//   4  a probe device: base uint16, length uint16 -> IoBus::Register (at most 8 probes)
// Every access goes through an IoBus holding COM1 at 0x3f8 and the i8042 at 0x60, and every
// answer is compared with reference models written here from the devices' documentation:
//
// COM1, from the PC16550D datasheet as serial.h narrows it (THR empties at once; one
// receive queue of at most Serial::kMaxInputBytes; no character timeout):
//   - IIR bit 0 is 0 exactly when an interrupt is pending; bits 3:1 name the highest-priority
//     enabled source (line status 011, received data 010, THR empty 001, modem status 000),
//     bits 5:4 are 0, bits 7:6 are set exactly when FCR bit 0 enabled the FIFOs;
//   - LSR always shows THRE and TEMT (bits 5, 6), DR (bit 0) exactly when a received byte
//     waits, OE (bit 1) after a byte was lost to a full receiver, until LSR is read;
//   - received bytes come out of RBR in order, at most kMaxInputBytes of them; loopback (MCR
//     bit 4) sends THR to the receiver, disconnects the console input and drives the modem
//     inputs from MCR (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD) with their delta bits;
//   - the registers read back what was written (IER bits 3:0, MCR bits 4:0, LCR, SCR, the
//     divisor latch with DLAB), bytes beyond the first of a wide read are 0;
//   - the interrupt line gets one edge for each idle-to-pending transition of the output;
//   - Serial::TransmitCanBeDeferred() holds exactly when ETBEI (IER bit 1) and loopback are
//     off, and then a write to offset 0 raises no edge (vmmd lets KVM queue those writes).
// The i8042, from i8042.h: status bits (output full, system flag, last write a command, aux
// data), command answers queued (at most 16), the reset line pulsed by even commands
// 0xf0-0xfe and by output port writes with bit 0 clear, offsets 1-3 reading 0xff. The reset
// callback reads the status port itself: i8042.h promises it runs outside the lock.
// The bus: registrations succeed exactly when the range is non-empty, inside the 64 Ki port
// space and free; an access reaches the device holding its first port, at the right
// offset; unclaimed reads are all ones; unclaimed accesses are counted.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/port_io_device.h"
#include "devices/serial.h"
#include "tests/fuzz/fuzz_check.h"

namespace vmmd::fuzz {
namespace {

constexpr size_t kSizes[] = {1, 2, 4};
constexpr int kMaxProbes = 8;
constexpr int kMaxOperations = 10000;

class CountingInterrupt : public InterruptLine {
 public:
  void Trigger() override { ++count; }
  int count = 0;
};

// A device that answers reads with its fill byte and remembers the last access.
class Probe : public PortIoDevice {
 public:
  explicit Probe(uint8_t fill) : fill_(fill) {}
  void Read(uint16_t offset, absl::Span<uint8_t> data) override {
    std::memset(data.data(), fill_, data.size());
    Record(offset, data.size(), false);
  }
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override {
    Record(offset, data.size(), true);
  }
  uint8_t fill() const { return fill_; }
  int accesses = 0;
  uint16_t last_offset = 0;
  size_t last_size = 0;
  bool last_was_write = false;

 private:
  void Record(uint16_t offset, size_t size, bool write) {
    ++accesses;
    last_offset = offset;
    last_size = size;
    last_was_write = write;
  }
  const uint8_t fill_;
};

// COM1 as the 16550D datasheet describes it, with serial.h's simplifications.
class SerialModel {
 public:
  // Returns the value of the addressed register; nullopt where the datasheet leaves it
  // undefined (RBR with nothing received).
  std::optional<uint8_t> Read(uint16_t offset) {
    switch (offset) {
      case 0:
        if (lcr_ & kDlab) return dll_;
        if (rx_.empty()) return std::nullopt;
        {
          const uint8_t value = rx_.front();
          rx_.pop_front();
          Update();
          return value;
        }
      case 1:
        return (lcr_ & kDlab) ? dlm_ : ier_;
      case 2: {
        const uint8_t id = Identification();
        if (id == kIirThrEmpty) {  // reading IIR clears a THR-empty interrupt it reports
          thr_empty_pending_ = false;
          Update();
        }
        return id | (fifos_ ? 0xc0 : 0);
      }
      case 3:
        return lcr_;
      case 4:
        return mcr_;
      case 5: {
        const uint8_t value = 0x60 | (overrun_ ? 0x02 : 0) | (rx_.empty() ? 0 : 0x01);
        overrun_ = false;
        Update();
        return value;
      }
      case 6: {
        const uint8_t value = msr_;
        msr_ &= 0xf0;
        Update();
        return value;
      }
      default:
        return scr_;
    }
  }

  void Write(uint16_t offset, uint8_t value) {
    switch (offset) {
      case 0:
        if (lcr_ & kDlab) {
          dll_ = value;
          return;
        }
        thr_empty_pending_ = false;  // writing THR clears THRE ...
        Update();
        if (mcr_ & kLoop) {
          if (rx_.size() < Serial::kMaxInputBytes) {
            rx_.push_back(value);
          } else {
            overrun_ = true;
          }
        } else {
          transmitted_.push_back(value);
        }
        thr_empty_pending_ = true;  // ... and the byte leaves at once: THR is empty again
        Update();
        return;
      case 1:
        if (lcr_ & kDlab) {
          dlm_ = value;
          return;
        }
        if ((value & 0x02) && !(ier_ & 0x02)) thr_empty_pending_ = true;  // ETBEI, THR empty
        ier_ = value & 0x0f;
        Update();
        return;
      case 2:
        if ((value & 0x02) || ((value & 0x01) != fifos_)) rx_.clear();
        fifos_ = value & 0x01;
        Update();
        return;
      case 3:
        lcr_ = value;
        return;
      case 4: {
        mcr_ = value & 0x1f;
        uint8_t inputs = 0xb0;  // DCD, DSR, CTS: the "modem" is always there
        if (mcr_ & kLoop) {
          inputs = ((mcr_ & 0x02) ? 0x10 : 0) | ((mcr_ & 0x01) ? 0x20 : 0) |
                   ((mcr_ & 0x04) ? 0x40 : 0) | ((mcr_ & 0x08) ? 0x80 : 0);
        }
        const uint8_t changed = (msr_ & 0xf0) ^ inputs;
        uint8_t deltas = msr_ & 0x0f;
        if (changed & 0x10) deltas |= 0x01;                         // DCTS
        if (changed & 0x20) deltas |= 0x02;                         // DDSR
        if ((msr_ & 0x40) && !(inputs & 0x40)) deltas |= 0x04;      // TERI
        if (changed & 0x80) deltas |= 0x08;                         // DDCD
        msr_ = inputs | deltas;
        Update();
        return;
      }
      case 7:
        scr_ = value;
        return;
      default:
        return;  // LSR, MSR: read-only
    }
  }

  size_t Enqueue(const std::vector<uint8_t>& bytes) {
    if (mcr_ & kLoop) return 0;
    const size_t queued = std::min(Serial::kMaxInputBytes - rx_.size(), bytes.size());
    rx_.insert(rx_.end(), bytes.begin(), bytes.begin() + queued);
    Update();
    return queued;
  }

  bool pending() const { return Identification() != kIirNone; }
  bool fifos() const { return fifos_; }
  bool rx_waiting() const { return !rx_.empty(); }
  uint8_t ier() const { return ier_; }
  bool loopback() const { return mcr_ & kLoop; }
  bool dlab() const { return lcr_ & kDlab; }
  int edges() const { return edges_; }
  const std::vector<uint8_t>& transmitted() const { return transmitted_; }

 private:
  static constexpr uint8_t kDlab = 0x80;
  static constexpr uint8_t kLoop = 0x10;
  static constexpr uint8_t kIirNone = 0x01;
  static constexpr uint8_t kIirThrEmpty = 0x02;

  // Datasheet, "Interrupt Control Functions": priority order.
  uint8_t Identification() const {
    if ((ier_ & 0x04) && overrun_) return 0x06;
    if ((ier_ & 0x01) && !rx_.empty()) return 0x04;
    if ((ier_ & 0x02) && thr_empty_pending_) return kIirThrEmpty;
    if ((ier_ & 0x08) && (msr_ & 0x0f)) return 0x00;
    return kIirNone;
  }
  void Update() {
    const bool now = pending();
    if (now && !level_) ++edges_;
    level_ = now;
  }

  uint8_t ier_ = 0, lcr_ = 0x03, mcr_ = 0x08, msr_ = 0xb0, scr_ = 0, dll_ = 12, dlm_ = 0;
  bool fifos_ = false, overrun_ = false, thr_empty_pending_ = false, level_ = false;
  int edges_ = 0;
  std::deque<uint8_t> rx_;
  std::vector<uint8_t> transmitted_;
};

// The i8042 as i8042.h describes it.
class I8042Model {
 public:
  // Expected bytes of a read of `size` bytes at `offset`.
  std::vector<uint8_t> Read(uint16_t offset, size_t size) {
    std::vector<uint8_t> bytes(size, 0xff);
    if (offset == 0) {
      if (out_.empty()) {
        bytes[0] = 0;
      } else {
        bytes[0] = out_.front().first;
        out_.pop_front();
      }
    } else if (offset == 4) {
      bytes[0] = Status();
    }
    return bytes;
  }

  void Write(uint16_t offset, uint8_t value) {
    if (offset == 0) {
      last_was_command_ = false;
      const uint8_t command = pending_;
      pending_ = 0;
      switch (command) {
        case 0x60: command_byte_ = value; break;
        case 0xd1:
          output_port_ = value;
          if (!(value & 0x01)) ++resets_;
          break;
        case 0xd2: Push(value, false); break;
        case 0xd3: Push(value, true); break;
        default: break;  // 0xd4 (to the absent mouse) or keyboard bytes: dropped
      }
    } else if (offset == 4) {
      last_was_command_ = true;
      pending_ = 0;
      switch (value) {
        case 0x20: Push(command_byte_, false); break;
        case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: pending_ = value; break;
        case 0xa7: command_byte_ |= 0x20; break;
        case 0xa8: command_byte_ &= ~0x20; break;
        case 0xa9: case 0xab: Push(0x00, false); break;
        case 0xaa: Push(0x55, false); break;
        case 0xad: command_byte_ |= 0x10; break;
        case 0xae: command_byte_ &= ~0x10; break;
        case 0xd0: Push(output_port_, false); break;
        default:
          if ((value & 0xf0) == 0xf0 && !(value & 0x01)) ++resets_;
          break;
      }
    }
  }

  uint8_t Status() const {
    uint8_t status = 0x10;
    if (command_byte_ & 0x04) status |= 0x04;
    if (last_was_command_) status |= 0x08;
    if (!out_.empty()) status |= 0x01 | (out_.front().second ? 0x20 : 0);
    return status;
  }
  int resets() const { return resets_; }

 private:
  void Push(uint8_t value, bool aux) {
    if (out_.size() < 16) out_.emplace_back(value, aux);
  }
  uint8_t command_byte_ = 0x45, pending_ = 0, output_port_ = 0x03;
  bool last_was_command_ = true;
  int resets_ = 0;
  std::deque<std::pair<uint8_t, bool>> out_;
};

enum class Owner { kNone, kSerial, kI8042, kProbe };

struct Range {
  uint32_t base;
  uint32_t end;
  Owner owner;
  Probe* probe;
};

class Harness {
 public:
  Harness()
      : serial_(&interrupt_, [this](uint8_t byte) { output_.push_back(byte); }),
        i8042_([this] {
          ++resets_;
          // i8042.h: the callback runs outside the device lock, so it may use the device.
          uint8_t status[1];
          i8042_.Read(4, absl::MakeSpan(status));
          FUZZ_CHECK(status[0] == i8042_model_.Status(), "status read from the reset callback");
        }) {
    FUZZ_CHECK(bus_.Register(Serial::kCom1Base, Serial::kPortCount, &serial_).ok(), "COM1");
    FUZZ_CHECK(bus_.Register(I8042::kBase, I8042::kPortCount, &i8042_).ok(), "i8042");
    ranges_.push_back({Serial::kCom1Base, Serial::kCom1Base + Serial::kPortCount, Owner::kSerial, nullptr});
    ranges_.push_back({I8042::kBase, I8042::kBase + I8042::kPortCount, Owner::kI8042, nullptr});
  }

  void Access(uint16_t port, bool write, size_t size, uint32_t value) {
    const Range* range = Find(port);
    const uint16_t offset = range ? static_cast<uint16_t>(port - range->base) : 0;
    const std::string what = absl::StrFormat("%s of %d bytes at port %#x", write ? "write" : "read",
                                             size, port);
    uint8_t bytes[4];
    std::memcpy(bytes, &value, sizeof(bytes));
    const int probe_accesses = range && range->probe ? range->probe->accesses : 0;
    if (write) {
      const bool serial_data = range && range->owner == Owner::kSerial && offset == 0;
      const bool deferrable = serial_.TransmitCanBeDeferred();
      FUZZ_CHECK(deferrable == (!(serial_model_.ier() & 0x02) && !serial_model_.loopback()),
                 what + ": TransmitCanBeDeferred disagrees with IER/MCR");
      const int edges_before = interrupt_.count;
      // The models first: the i8042's reset callback compares the status it reads with them.
      if (range && range->owner == Owner::kSerial) serial_model_.Write(offset, bytes[0]);
      if (range && range->owner == Owner::kI8042) i8042_model_.Write(offset, bytes[0]);
      const bool handled = bus_.Write(port, absl::MakeConstSpan(bytes, size));
      FUZZ_CHECK(handled == (range != nullptr), what + ": handled by the wrong device");
      if (!range) ++unhandled_writes_;
      if (serial_data && deferrable) {
        FUZZ_CHECK(interrupt_.count == edges_before, what + ": a deferrable write interrupted");
      }
    } else {
      std::memset(bytes, 0x5a, sizeof(bytes));
      const bool handled = bus_.Read(port, absl::MakeSpan(bytes, size));
      FUZZ_CHECK(handled == (range != nullptr), what + ": handled by the wrong device");
      if (!range) {
        ++unhandled_reads_;
        for (size_t i = 0; i < size; ++i) FUZZ_CHECK(bytes[i] == 0xff, what + ": unclaimed, not all ones");
      } else if (range->owner == Owner::kSerial) {
        CheckSerialRead(offset, bytes, size, what);
      } else if (range->owner == Owner::kI8042) {
        const std::vector<uint8_t> expected = i8042_model_.Read(offset, size);
        FUZZ_CHECK(std::memcmp(expected.data(), bytes, size) == 0,
                   absl::StrFormat("%s: i8042 answered %#x, expected %#x", what, bytes[0], expected[0]));
      } else {
        for (size_t i = 0; i < size; ++i) FUZZ_CHECK(bytes[i] == range->probe->fill(), what + ": probe fill");
      }
    }
    if (range && range->probe) {
      const Probe& probe = *range->probe;
      FUZZ_CHECK(probe.accesses == probe_accesses + 1 && probe.last_offset == offset &&
                     probe.last_size == size && probe.last_was_write == write,
                 what + ": the probe saw a different access");
    }
    CheckCommon(what);
  }

  void Enqueue(const std::vector<uint8_t>& bytes) {
    const size_t queued = serial_.EnqueueInput(bytes);
    const size_t expected = serial_model_.Enqueue(bytes);
    FUZZ_CHECK(queued == expected,
               absl::StrFormat("EnqueueInput(%d bytes) queued %d, expected %d", bytes.size(),
                               queued, expected));
    CheckCommon("EnqueueInput");
  }

  void RegisterProbe(uint16_t base, uint16_t length) {
    if (probes_.size() >= kMaxProbes) return;
    auto probe = std::make_unique<Probe>(static_cast<uint8_t>(0xa0 + probes_.size()));
    const absl::Status status = bus_.Register(base, length, probe.get());
    const uint32_t end = uint32_t{base} + length;
    absl::StatusCode expected = absl::StatusCode::kOk;
    if (length == 0 || end > 0x10000) {
      expected = absl::StatusCode::kInvalidArgument;
    } else {
      for (const Range& range : ranges_) {
        if (base < range.end && range.base < end) expected = absl::StatusCode::kAlreadyExists;
      }
    }
    FUZZ_CHECK(status.code() == expected,
               absl::StrFormat("Register(%#x, %#x): %s", base, length, status.ToString()));
    if (status.ok()) {
      ranges_.push_back({base, end, Owner::kProbe, probe.get()});
      probes_.push_back(std::move(probe));
    }
  }

 private:
  const Range* Find(uint16_t port) const {
    for (const Range& range : ranges_) {
      if (port >= range.base && port < range.end) return &range;
    }
    return nullptr;
  }

  void CheckSerialRead(uint16_t offset, const uint8_t* bytes, size_t size, const std::string& what) {
    const bool dlab = serial_model_.dlab();
    const bool pending_before = serial_model_.pending();
    const bool fifos = serial_model_.fifos();
    const std::optional<uint8_t> expected = serial_model_.Read(offset);
    for (size_t i = 1; i < size; ++i) FUZZ_CHECK(bytes[i] == 0, what + ": high bytes of a wide read");
    const uint8_t value = bytes[0];
    if (offset == 2) {
      // IIR: the datasheet's invariants, stated on their own before the model's value.
      FUZZ_CHECK(((value & 0x01) == 0) == pending_before,
                 absl::StrFormat("%s: IIR %#x, an interrupt is %spending", what, value,
                                 pending_before ? "" : "not "));
      FUZZ_CHECK((value & 0x38) == 0, absl::StrFormat("%s: IIR %#x has bits 5:3 set", what, value));
      FUZZ_CHECK((value & 0xc0) == (fifos ? 0xc0 : 0),
                 absl::StrFormat("%s: IIR %#x, FIFOs %s", what, value, fifos ? "on" : "off"));
      if ((value & 0x0f) == 0x04) {
        FUZZ_CHECK((serial_model_.ier() & 0x01), what + ": received-data interrupt while disabled");
      }
    }
    if (offset == 5) {
      FUZZ_CHECK((value & 0x60) == 0x60, absl::StrFormat("%s: LSR %#x without THRE|TEMT", what, value));
      FUZZ_CHECK((value & 0x80) == 0, absl::StrFormat("%s: LSR %#x reports a FIFO error", what, value));
    }
    if (offset == 0 && !dlab && !expected) return;  // RBR with nothing received: undefined
    FUZZ_CHECK(expected && value == *expected,
               absl::StrFormat("%s: COM1 register %d read %#x, expected %#x", what, offset, value,
                               expected.value_or(0)));
  }

  void CheckCommon(const std::string& what) {
    FUZZ_CHECK(interrupt_.count == serial_model_.edges(),
               absl::StrFormat("%s: %d interrupt edges, expected %d", what, interrupt_.count,
                               serial_model_.edges()));
    FUZZ_CHECK(output_ == serial_model_.transmitted(), what + ": transmitted bytes differ");
    FUZZ_CHECK(resets_ == i8042_model_.resets(),
               absl::StrFormat("%s: %d resets, expected %d", what, resets_, i8042_model_.resets()));
    FUZZ_CHECK(bus_.unhandled_reads() == unhandled_reads_ &&
                   bus_.unhandled_writes() == unhandled_writes_,
               what + ": unhandled access counts");
  }

  CountingInterrupt interrupt_;
  std::vector<uint8_t> output_;
  int resets_ = 0;
  Serial serial_;
  I8042 i8042_;
  IoBus bus_;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::vector<Range> ranges_;
  uint64_t unhandled_reads_ = 0, unhandled_writes_ = 0;
  SerialModel serial_model_;
  I8042Model i8042_model_;
};

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd;
  using namespace vmmd::fuzz;
  FuzzedDataProvider provider(data, size);
  Harness harness;
  for (int i = 0; i < kMaxOperations && provider.remaining_bytes() > 0; ++i) {
    const uint8_t opcode = provider.ConsumeIntegralInRange<uint8_t>(0, 4);
    if (opcode == 1) {
      const uint16_t count = provider.ConsumeIntegralInRange<uint16_t>(0, 5000);
      const uint8_t first = provider.ConsumeIntegral<uint8_t>();
      std::vector<uint8_t> bytes(count);
      for (uint16_t j = 0; j < count; ++j) bytes[j] = static_cast<uint8_t>(first + j);
      harness.Enqueue(bytes);
    } else if (opcode == 4) {
      const uint16_t base = provider.ConsumeIntegral<uint16_t>();
      const uint16_t length = provider.ConsumeIntegral<uint16_t>();
      harness.RegisterProbe(base, length);
    } else {
      const bool write = provider.ConsumeBool();
      uint16_t port = 0;
      if (opcode == 0) port = Serial::kCom1Base + provider.ConsumeIntegralInRange<uint8_t>(0, 7);
      if (opcode == 2) port = I8042::kBase + provider.ConsumeIntegralInRange<uint8_t>(0, 4);
      if (opcode == 3) port = provider.ConsumeIntegral<uint16_t>();
      const size_t access_size = kSizes[provider.ConsumeIntegralInRange<uint8_t>(0, 2)];
      const uint32_t value = write ? provider.ConsumeIntegral<uint32_t>() : 0;
      harness.Access(port, write, access_size, value);
    }
  }
  return 0;
}
