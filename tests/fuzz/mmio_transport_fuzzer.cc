// Fuzzes the virtio-mmio transport (devices/virtio/mmio_transport: registers, feature
// negotiation, the status state machine, queue configuration, reset, ProcessQueue) in front
// of virtio-blk over a 64 KiB memfd image (devices/virtio/block_device) or virtio-rng
// (entropy_device), with 1 MiB of guest RAM in which the input plays the driver. Input, read
// through FuzzedDataProvider in this order (seed_gen.cc writes seeds with FdpEncoder in the
// same order; opcodes, modes and ranges are in virtio_device_ops.h, namespace
// mmio_transport):
//   mode   uint8 in [0, kLastMode]: virtio-blk read-write; read-only on a read-write fd (only
//          the device stands between a write and the image); read-only on a read-only fd;
//          read-write on an image with an odd tail; virtio-rng
// then operations, each an opcode uint8 in [0, kLastOp] and its operands:
//   kInit             flags uint8 (InitFlags), size log2 uint8 in [0, kMaxSizeLog2], layout
//                     uint8 in [0, kLastLayout] (kRawLayout: three addresses). The driver's
//                     part of 3.1.1 and 4.2.3.1-4.2.3.2: check magic, version and device id;
//                     reset; ACKNOWLEDGE; DRIVER; read the features; accept them (less or
//                     more, per flags); FEATURES_OK and read it back; queue 0: QueueNumMax,
//                     zeroed rings, QueueNum, the three addresses, QueueReady; DRIVER_OK.
//   kWriteRegister    register, width, value; kReadRegister register, width. A register is
//                     bool known; known: uint8 index in [0, kRegisterCount - 1] into
//                     kRegisters, else offset uint16 in [0, kMaxRegisterOffset]. A width is
//                     bool four; otherwise uint8 in [1, 8]. A value is a kind uint8 in
//                     [0, kLastValueKind]: uint8, uint32, uint64, or bit uint8 in [0, 31] set
//                     in the register's current value (a read-modify-write).
//   kReadConfig       offset uint16 in [0, kMaxConfigOffset], width uint8 in [1, 8]
//   kWriteConfig      the same, then value uint64
//   kSetDescriptor    index uint16 in [0, size - 1], descriptor; kWriteDescriptorAt offset
//                     uint32 in [0, kMemorySize - 16], descriptor. A descriptor is address
//                     (bool far; far: uint64, else uint64 in [0, kMaxNearAddress]), length
//                     (bool big; big: uint32, else uint32 in [0, kMaxNearLength]), flags uint8
//                     in [0, 7], next uint16 in [0, size]
//   kMakeAvailable    head uint16 in [0, size]
//   kMoveAvailIdx     delta uint16
//   kSetDriverFields  avail flags uint16, used_event uint16
//   kRequest          a virtio-blk request (virtio_device_ops.h), on the next descriptors
//   kPatch            offset uint32 in [0, kMemorySize - 1], count uint8 in [0,
//                     kMaxPatchBytes], then count bytes
//   kProcessQueue     index uint8 in [0, 2]
//   kNotify           value uint8 in [0, 2] written to QueueNotify, then the event loop runs
//   kRunEventLoop     nothing: ProcessQueue for each queue whose notifier fired
//   kInterruptAck     bool pending; pending: the InterruptStatus read, else uint8
//   kReset            nothing: status 0
//   kSnapshot         nothing: state() is restored into a new transport in front of a new
//                     device of the same mode (MmioTransport::Restore), which replaces it
// where `size` is queue 0's QueueNum as the transport holds it, and driver writes go to
// queue 0's rings at the addresses the transport holds. At the end the event loop runs.
//
// Checked, against models written here from virtio 1.2 sections 2.1, 3.1.1, 4.2.2 and
// 4.2.3 as mmio_transport.h narrows them:
//   - every register read: magic, version, device and vendor id, the features offered
//     (the device's documented bits and VIRTIO_F_VERSION_1) per DeviceFeaturesSel,
//     QueueNumMax and QueueReady of the selected queue, Status, InterruptStatus,
//     ConfigGeneration, the shared memory registers (-1), 0 for write-only and unknown
//     registers and for any access that is not 32 bits wide and aligned; configuration space
//     reads against struct virtio_blk_config (5.2.4; zeros for virtio-rng); no read changes
//     the state;
//   - every write moves the state exactly as the model says: status only gains bits, in the
//     order ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK (FAILED at any time), FEATURES_OK
//     only with VIRTIO_F_VERSION_1 accepted and nothing accepted that was not offered, and
//     the driver may write DEVICE_NEEDS_RESET back as it read it (2.1.1: it must not clear
//     bits); features only between DRIVER and FEATURES_OK; queue registers only between
//     FEATURES_OK and DRIVER_OK on a queue that is not ready, QueueReady = 0 at any time;
//     InterruptACK clears what it names; status 0 gives the state of a fresh transport;
//     Restore takes any state() and gives it back exactly;
//     notifiers fire for QueueNotify of an existing queue and on DRIVER_OK, and only then;
//     misaligned and odd-width register writes and configuration writes change nothing;
//   - always: status has FEATURES_OK only with VIRTIO_F_VERSION_1 accepted; DRIVER_OK only
//     after FEATURES_OK after DRIVER after ACKNOWLEDGE; InterruptStatus has bits 0-1 only; a
//     ready queue is a valid configuration (power-of-two size up to QueueNumMax, aligned
//     rings in RAM), holds no chain (both devices return each at once) and serves with the
//     features negotiated (VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC); interrupts raised
//     equal the line's edges;
//   - ProcessQueue does nothing unless DRIVER_OK, not DEVICE_NEEDS_RESET and the queue
//     ready; otherwise used->idx advances by no more chains than the driver made available,
//     is published in RAM, the device counts one request per chain, a broken ring sets
//     DEVICE_NEEDS_RESET with a configuration change interrupt, used buffers without
//     VRING_AVAIL_F_NO_INTERRUPT (and no event idx) a used buffer interrupt;
//   - the image never changes size, never changes in read-only modes, and its odd tail (not
//     whole sectors) never changes;
//   - nothing reads or writes outside guest RAM (guard pages around it; ASan elsewhere).
#include <fuzzer/FuzzedDataProvider.h>
#include <linux/virtio_blk.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "devices/port_io_device.h"
#include "devices/virtio/block_device.h"
#include "devices/virtio/entropy_device.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/split_ring.h"
#include "devices/virtio/virtqueue.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_one_input.h"
#include "tests/fuzz/guest_ram.h"
#include "tests/fuzz/queue_layout.h"
#include "tests/fuzz/virtio_device_ops.h"
#include "tests/fuzz/virtio_driver.h"

namespace vmmd::fuzz {
namespace {

using namespace ::vmmd::fuzz::mmio_transport;  // NOLINT: the format's constants
using ::vmmd::virtio::MmioTransport;
using ::vmmd::virtio::MmioTransportState;
using ::vmmd::virtio::VirtqueueState;
namespace mmio = ::vmmd::virtio::mmio;
namespace status = ::vmmd::virtio::status;

constexpr int kMaxOperations = 1000;
constexpr NearRanges kNear = {kMaxNearAddress, kMaxNearLength};
constexpr uint16_t kQueueMax = 256;  // both devices' QueueNumMax
constexpr uint32_t kKnownStatus = status::kAcknowledge | status::kDriver | status::kFeaturesOk |
                                  status::kDriverOk | status::kFailed;

class CountingInterrupt : public InterruptLine {
 public:
  void Trigger() override { ++count_; }
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
};

bool IsBlock(uint8_t mode) { return mode != kEntropy; }

// What the device offers (block_device.h, entropy_device.h) and the transport adds.
uint64_t Offered(uint8_t mode) {
  uint64_t features =
      virtio::kFeatureVersion1 | virtio::kFeatureIndirectDesc | virtio::kFeatureEventIdx;
  if (IsBlock(mode)) {
    features |= (uint64_t{1} << VIRTIO_BLK_F_SEG_MAX) | (uint64_t{1} << VIRTIO_BLK_F_BLK_SIZE) |
                (uint64_t{1} << VIRTIO_BLK_F_FLUSH);
  }
  if (mode == kBlockReadOnly || mode == kBlockReadOnlyFd) {
    features |= uint64_t{1} << VIRTIO_BLK_F_RO;
  }
  return features;
}

// Spec 5.2.4: capacity in 512-byte sectors, seg_max (queue size - 2), blk_size 512; the rest 0.
// virtio-rng has no configuration (5.4.4).
std::vector<uint8_t> ExpectedConfig(uint8_t mode, uint64_t capacity) {
  std::vector<uint8_t> bytes(0x200, 0);
  if (IsBlock(mode)) {
    const uint32_t seg_max = kQueueMax - 2, blk_size = 512;
    std::memcpy(&bytes[offsetof(virtio_blk_config, capacity)], &capacity, 8);
    std::memcpy(&bytes[offsetof(virtio_blk_config, seg_max)], &seg_max, 4);
    std::memcpy(&bytes[offsetof(virtio_blk_config, blk_size)], &blk_size, 4);
  }
  return bytes;
}

bool SameQueue(const VirtqueueState& a, const VirtqueueState& b, bool features_too = true) {
  VirtqueueState x = a;
  if (!features_too) {
    x.event_idx = b.event_idx;
    x.indirect_descriptors = b.indirect_descriptors;
  }
  return x == b;
}

bool SameState(const MmioTransportState& a, const MmioTransportState& b) {
  if (a.queues.size() != b.queues.size()) return false;
  for (size_t i = 0; i < a.queues.size(); ++i) {
    if (!SameQueue(a.queues[i], b.queues[i])) return false;
  }
  return a.status == b.status && a.device_features_sel == b.device_features_sel &&
         a.driver_features_sel == b.driver_features_sel && a.driver_features == b.driver_features &&
         a.queue_sel == b.queue_sel && a.interrupt_status == b.interrupt_status &&
         a.config_generation == b.config_generation;
}

std::string Describe(const MmioTransportState& s) {
  std::string text = absl::StrFormat(
      "{status %#x, features sel %d/%d, driver features %#x, queue sel %d, interrupt %#x, "
      "generation %d",
      s.status, s.device_features_sel, s.driver_features_sel, s.driver_features, s.queue_sel,
      s.interrupt_status, s.config_generation);
  for (const VirtqueueState& q : s.queues) {
    text += absl::StrFormat(
        ", queue {size %d, ready %d, rings %#x %#x %#x, event idx %d, indirect %d, avail %d, "
        "used %d, signalled %d}",
        q.size, q.ready, q.descriptor_table.value(), q.available_ring.value(), q.used_ring.value(),
        q.event_idx, q.indirect_descriptors, q.next_avail, q.next_used, q.signalled_used);
  }
  return text + "}";
}

// The status a write of `value` leaves (spec 2.1.1, 3.1.1; mmio_transport.h): nullopt when
// the spec leaves it open (the driver setting DEVICE_NEEDS_RESET itself).
std::optional<uint32_t> ExpectedStatus(uint32_t old, uint32_t value, uint64_t accepted,
                                       uint64_t offered) {
  const uint32_t needs_reset = old & status::kNeedsReset;
  if ((value & status::kNeedsReset) && !needs_reset) return std::nullopt;
  // DEVICE_NEEDS_RESET is the device's: the driver may write it back or not.
  const uint32_t before = old & ~status::kNeedsReset, v = value & ~status::kNeedsReset;
  if ((v & before) != before) return old;  // "The driver MUST NOT clear a device status bit"
  const uint32_t added = v & ~before;
  if (added & ~kKnownStatus) return old;
  if ((added & status::kDriver) && !(v & status::kAcknowledge)) return old;
  if ((added & status::kFeaturesOk) && !(v & status::kDriver)) return old;
  if ((added & status::kDriverOk) && !(v & status::kFeaturesOk)) return old;
  uint32_t result = v;
  if ((added & status::kFeaturesOk) &&
      ((accepted & virtio::kFeatureVersion1) == 0 || (accepted & ~offered) != 0)) {
    result &= ~(status::kFeaturesOk | status::kDriverOk);  // 3.1.1 step 6: not accepted
  }
  return result | needs_reset;
}

uint64_t WithLow(uint64_t value, uint32_t low) { return (value & ~uint64_t{0xffffffff}) | low; }
uint64_t WithHigh(uint64_t value, uint32_t high) {
  return (value & uint64_t{0xffffffff}) | (uint64_t{high} << 32);
}

class Harness {
 public:
  Harness(std::shared_ptr<GuestMemory> memory, uint8_t mode)
      : mode_(mode),
        memory_(std::move(memory)),
        writer_(*memory_, nullptr),
        data_(0x20000, 0xf0000),
        tables_(0x8000, 0x10000) {
    image_size_ = kImageSize + (mode == kBlockOddTail ? kImageOddTail : 0);
    ImageFile::Get().Reset(image_size_);
    transport_ = MakeTransport();
    fresh_ = transport_->state();
    FUZZ_CHECK(fresh_.queues.size() == 1 && fresh_.queues[0].size == kQueueMax &&
                   !fresh_.queues[0].ready && fresh_.status == 0,
               "a fresh transport: " + Describe(fresh_));
    offered_ = Offered(mode);
    config_ = ExpectedConfig(mode, image_size_ / 512);
    pending_.assign(transport_->queue_count(), false);
  }

  // A transport in front of a new device of the mode, on the image.
  std::unique_ptr<MmioTransport> MakeTransport() {
    std::unique_ptr<virtio::VirtioDevice> device;
    if (IsBlock(mode_)) {
      absl::StatusOr<std::unique_ptr<virtio::BlockDevice>> block =
          virtio::BlockDevice::Create(ImageFile::Get().Open(mode_ == kBlockReadOnlyFd),
                                      mode_ == kBlockReadOnly || mode_ == kBlockReadOnlyFd, "fuzz");
      FUZZ_CHECK(block.ok(), block.status().ToString());
      device = *std::move(block);
    } else {
      device = std::make_unique<virtio::EntropyDevice>();
    }
    absl::StatusOr<std::unique_ptr<MmioTransport>> transport =
        MmioTransport::Create(std::move(device), memory_, &interrupt_);
    FUZZ_CHECK(transport.ok(), transport.status().ToString());
    return *std::move(transport);
  }

  // What a snapshot does: state() into a second transport, which carries on.
  void Snapshot() {
    const MmioTransportState saved = transport_->state();
    std::unique_ptr<MmioTransport> restored = MakeTransport();
    const absl::Status status = restored->Restore(saved);
    FUZZ_CHECK(status.ok(), "restoring " + Describe(saved) + ": " + status.ToString());
    FUZZ_CHECK(SameState(restored->state(), saved),
               "restored " + Describe(saved) + " as " + Describe(restored->state()));
    transport_ = std::move(restored);
    interrupts_before_ = interrupt_.count();  // the new transport counts from 0
  }

  // --- Register accesses, each checked against the models.

  uint64_t Read(uint64_t offset, size_t width) {
    const MmioTransportState before = transport_->state();
    uint8_t bytes[8];
    std::memset(bytes, 0xcd, sizeof(bytes));
    transport_->Read(offset, absl::MakeSpan(bytes, width));
    uint64_t value = 0;
    std::memcpy(&value, bytes, width);
    const MmioTransportState after = transport_->state();
    const auto what = [&] { return absl::StrFormat("read of %d bytes at %#x", width, offset); };
    FUZZ_CHECK(SameState(before, after),
               what() + " changed the state: " + Describe(before) + " -> " + Describe(after));
    const uint64_t expected = ExpectedRead(before, offset, width);
    FUZZ_CHECK(value == expected, absl::StrFormat("%s returned %#x, the model says %#x (state %s)",
                                                  what(), value, expected, Describe(before)));
    return value;
  }

  void Write(uint64_t offset, size_t width, uint64_t value) {
    const MmioTransportState before = transport_->state();
    transport_->Write(offset, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), width));
    const MmioTransportState after = transport_->state();
    std::vector<bool> notified(transport_->queue_count());
    for (size_t i = 0; i < notified.size(); ++i) {
      notified[i] = transport_->queue_notifier(i).Consume() > 0;
      if (notified[i]) pending_[i] = true;
    }
    const auto what = [&] {
      return absl::StrFormat("write of %d bytes of %#x at %#x", width, value, offset);
    };
    bool status_open = false;
    const MmioTransportState expected = ExpectedWrite(before, offset, width, value, status_open);
    MmioTransportState compared = after;
    if (status_open) compared.status = expected.status;
    bool same = SameState(compared, expected);
    // QueueReady = 0 resets the queue; which features it then holds is checked when it is
    // ready again (CheckAlways).
    if (!same && offset == mmio::kQueueReady && width == 4 && static_cast<uint32_t>(value) == 0 &&
        before.queue_sel < expected.queues.size()) {
      MmioTransportState relaxed = compared;
      relaxed.queues[before.queue_sel].event_idx = expected.queues[before.queue_sel].event_idx;
      relaxed.queues[before.queue_sel].indirect_descriptors =
          expected.queues[before.queue_sel].indirect_descriptors;
      same = SameState(relaxed, expected);
    }
    FUZZ_CHECK(same, what() + ": state " + Describe(before) + " -> " + Describe(after) +
                         ", the model says " + Describe(expected));
    if (!status_open) {
      // QueueNotify kicks its queue; DRIVER_OK kicks them all (buffers made available before).
      const bool live = !(before.status & status::kDriverOk) && (after.status & status::kDriverOk);
      for (size_t i = 0; i < notified.size(); ++i) {
        const bool kick =
            offset == mmio::kQueueNotify && width == 4 && static_cast<uint32_t>(value) == i;
        FUZZ_CHECK(notified[i] == (kick || live),
                   absl::StrFormat("%s: notifier %d fired %d, expected %d", what(), i, notified[i],
                                   kick || live));
      }
    }
  }

  uint64_t ConsumeValue(FuzzedDataProvider& provider, uint64_t offset) {
    switch (provider.ConsumeIntegralInRange<uint8_t>(0, kLastValueKind)) {
      case kSmallValue:
        return provider.ConsumeIntegral<uint8_t>();
      case kValue32:
        return provider.ConsumeIntegral<uint32_t>();
      case kValue64:
        return provider.ConsumeIntegral<uint64_t>();
      default: {
        const uint8_t bit = provider.ConsumeIntegralInRange<uint8_t>(0, 31);
        return Read(offset, 4) | (uint64_t{1} << bit);
      }
    }
  }

  // --- The driver.

  void Init(uint8_t flags, uint8_t log2, uint8_t layout, uint64_t raw_desc, uint64_t raw_avail,
            uint64_t raw_used) {
    Read(mmio::kMagicValue, 4);
    Read(mmio::kVersion, 4);
    Read(mmio::kDeviceId, 4);
    if (!(flags & kNoReset)) Write(mmio::kStatus, 4, 0);
    if (flags & kOneWriteDriver) {
      AddStatus(status::kAcknowledge | status::kDriver);
    } else {
      AddStatus(status::kAcknowledge);
      AddStatus(status::kDriver);
    }
    Write(mmio::kDeviceFeaturesSel, 4, 0);
    uint64_t features = Read(mmio::kDeviceFeatures, 4);
    Write(mmio::kDeviceFeaturesSel, 4, 1);
    features |= Read(mmio::kDeviceFeatures, 4) << 32;
    if (flags & kDropVersion1) features &= ~virtio::kFeatureVersion1;
    if (flags & kDropEventIdx) features &= ~virtio::kFeatureEventIdx;
    if (flags & kDropIndirect) features &= ~virtio::kFeatureIndirectDesc;
    if (flags & kAddUnoffered) features |= 1;
    Write(mmio::kDriverFeaturesSel, 4, 0);
    Write(mmio::kDriverFeatures, 4, features & 0xffffffff);
    Write(mmio::kDriverFeaturesSel, 4, 1);
    Write(mmio::kDriverFeatures, 4, features >> 32);
    AddStatus(status::kFeaturesOk);
    if (!(Read(mmio::kStatus, 4) & status::kFeaturesOk) || (flags & kStopAtFeatures)) return;

    const uint16_t size = static_cast<uint16_t>(1u << log2);
    uint64_t desc, avail, used;
    switch (layout) {
      case kStandard:
        desc = 0x1000, avail = 0x5000, used = 0x6000;
        break;
      case kPacked:
        desc = 0x10000;
        avail = desc + virtio::DescriptorTableBytes(size);
        used = (avail + virtio::AvailableRingBytes(size) + 3) / 4 * 4;
        break;
      case kTopOfRam:
        used = (kMemorySize - virtio::UsedRingBytes(size)) / 4 * 4;
        avail = (used - virtio::AvailableRingBytes(size)) / 2 * 2;
        desc = (avail - virtio::DescriptorTableBytes(size)) / 16 * 16;
        break;
      default:
        desc = raw_desc, avail = raw_avail, used = raw_used;
    }
    Write(mmio::kQueueSel, 4, 0);
    Read(mmio::kQueueReady, 4);
    Read(mmio::kQueueNumMax, 4);
    // 4.2.3.2 step 3: the driver allocates and zeroes the rings.
    if (InRam(desc, virtio::DescriptorTableBytes(size), kMemorySize)) {
      writer_.Fill(desc, 0, virtio::DescriptorTableBytes(size));
    }
    if (InRam(avail, virtio::AvailableRingBytes(size), kMemorySize)) {
      writer_.Fill(avail, 0, virtio::AvailableRingBytes(size));
    }
    if (InRam(used, virtio::UsedRingBytes(size), kMemorySize)) {
      writer_.Fill(used, 0, virtio::UsedRingBytes(size));
    }
    Write(mmio::kQueueNum, 4, size);
    Write(mmio::kQueueDescLow, 4, desc & 0xffffffff);
    Write(mmio::kQueueDescHigh, 4, desc >> 32);
    Write(mmio::kQueueDriverLow, 4, avail & 0xffffffff);
    Write(mmio::kQueueDriverHigh, 4, avail >> 32);
    Write(mmio::kQueueDeviceLow, 4, used & 0xffffffff);
    Write(mmio::kQueueDeviceHigh, 4, used >> 32);
    Write(mmio::kQueueReady, 4, 1);
    Read(mmio::kQueueReady, 4);
    cursor_ = 0;
    if (flags & kStopBeforeLive) return;
    AddStatus(status::kDriverOk);
  }

  VirtqueueState Queue() const { return transport_->state().queues[0]; }
  // Queue 0's size as a range's upper bound (at least 1).
  uint16_t SizeForRanges() const { return std::max<uint16_t>(Queue().size, 1); }

  void WriteDescriptor(uint64_t address, const vring_desc& d) {
    if (InRam(address, 16, kMemorySize)) writer_.WriteValue(address, d);
  }
  void SetDescriptor(uint16_t index, const vring_desc& d) {
    WriteDescriptor(Queue().descriptor_table.value() + 16 * uint64_t{index}, d);
  }
  void MakeAvailable(uint16_t head) {
    const VirtqueueState q = Queue();
    if (InRam(q.available_ring.value(), virtio::AvailableRingBytes(q.size), kMemorySize)) {
      writer_.MakeAvailable(q.available_ring.value(), q.size, head);
    }
  }
  void MoveAvailIdx(uint16_t delta) {
    const uint64_t at = Queue().available_ring.value() + virtio::kAvailIdxOffset;
    if (!InRam(at, 2, kMemorySize)) return;
    writer_.WriteValue<uint16_t>(at,
                                 static_cast<uint16_t>(*writer_.ReadValue<uint16_t>(at) + delta));
  }
  void SetDriverFields(uint16_t flags, uint16_t used_event) {
    const VirtqueueState q = Queue();
    if (InRam(q.available_ring.value(), virtio::AvailableRingBytes(q.size), kMemorySize)) {
      writer_.WriteValue<uint16_t>(q.available_ring.value() + virtio::kAvailFlagsOffset, flags);
      writer_.WriteValue<uint16_t>(q.available_ring.value() + virtio::UsedEventOffset(q.size),
                                   used_event);
    }
  }
  void Request(const RequestSpec& spec) {
    const VirtqueueState q = Queue();
    if (q.size == 0 ||
        !InRam(q.descriptor_table.value(), virtio::DescriptorTableBytes(q.size), kMemorySize)) {
      return;
    }
    // The next descriptors round the table; a chain longer than the queue repeats some (a
    // loop the device must refuse).
    std::vector<uint16_t> descriptors;
    for (uint16_t i = 0; i < 2 * request::kMaxPieces + 1; ++i) {
      descriptors.push_back(static_cast<uint16_t>((cursor_ + i) % q.size));
    }
    std::optional<BuiltChain> chain = writer_.LayOut(
        spec, data_, tables_, q.descriptor_table.value(), descriptors, /*wrap=*/true);
    if (!chain) return;
    cursor_ = static_cast<uint16_t>((cursor_ + chain->descriptors.size()) % q.size);
    MakeAvailable(chain->head);
  }
  void Patch(uint32_t offset, std::vector<uint8_t> bytes) {
    bytes.resize(std::min<uint64_t>(bytes.size(), kMemorySize - offset));
    writer_.Write(offset, bytes);
  }

  // --- The event loop's side.

  void ProcessQueue(size_t index) {
    const MmioTransportState before = transport_->state();
    const virtio::MmioTransportCounters transport_before = transport_->counters();
    const virtio::DeviceCounters device_before = transport_->device().counters();
    const bool live = index < before.queues.size() && (before.status & status::kDriverOk) &&
                      !(before.status & status::kNeedsReset) && before.queues[index].ready;
    std::optional<uint16_t> avail_idx_before;
    if (live) {
      avail_idx_before =
          writer_.ReadValue<uint16_t>(before.queues[index].available_ring.value() + 2);
    }

    transport_->ProcessQueue(index);

    const MmioTransportState after = transport_->state();
    const virtio::DeviceCounters device_after = transport_->device().counters();
    const auto what = [&] {
      return absl::StrFormat("ProcessQueue(%d) in %s -> %s", index, Describe(before),
                             Describe(after));
    };
    CollectNotifications();
    if (!live) {
      FUZZ_CHECK(SameState(before, after), what() + ": a queue that is not live moved");
      FUZZ_CHECK(device_after.requests == device_before.requests, what() + ": requests served");
      FUZZ_CHECK(transport_->counters().interrupts == transport_before.interrupts,
                 what() + ": an interrupt");
      CheckImage();
      return;
    }
    // Apart from queue `index`'s indices, DEVICE_NEEDS_RESET and InterruptStatus, nothing
    // moves.
    const VirtqueueState& qb = before.queues[index];
    const VirtqueueState& qa = after.queues[index];
    MmioTransportState expected = before;
    expected.queues[index].next_avail = qa.next_avail;
    expected.queues[index].next_used = qa.next_used;
    expected.queues[index].signalled_used = qa.signalled_used;
    expected.status |= after.status & status::kNeedsReset;
    expected.interrupt_status = after.interrupt_status;
    FUZZ_CHECK(SameState(after, expected), what() + ": more than the queue's indices moved");
    FUZZ_CHECK((after.interrupt_status & before.interrupt_status) == before.interrupt_status,
               what() + ": ProcessQueue cleared interrupt bits");
    const uint16_t served = static_cast<uint16_t>(qa.next_used - qb.next_used);
    FUZZ_CHECK(qa.next_avail == qa.next_used, what() + ": a chain was popped and not returned");
    FUZZ_CHECK(device_after.requests - device_before.requests == served,
               absl::StrFormat("%s: %d chains used, %d requests counted", what(), served,
                               device_after.requests - device_before.requests));
    FUZZ_CHECK(transport_->counters().notifications == transport_before.notifications + 1,
               what() + ": notifications not counted");
    // Only chains the driver made available: unless the device's own writes moved avail->idx
    // (buffers over the ring), no more than avail->idx - next_avail.
    const uint64_t avail = qb.available_ring.value(), used = qb.used_ring.value();
    const std::optional<uint16_t> avail_idx_after = writer_.ReadValue<uint16_t>(avail + 2);
    if (avail_idx_before && avail_idx_after == avail_idx_before) {
      const uint16_t made_available = static_cast<uint16_t>(*avail_idx_before - qb.next_avail);
      FUZZ_CHECK(served <= made_available, absl::StrFormat("%s: %d chains used, %d made available",
                                                           what(), served, made_available));
    }
    if (served > 0) {
      FUZZ_CHECK(writer_.ReadValue<uint16_t>(used + virtio::kUsedIdxOffset) == qa.next_used,
                 what() + ": used->idx in RAM is not next_used");
      const std::optional<vring_used_elem> last = writer_.ReadValue<vring_used_elem>(
          used + virtio::UsedElementOffset(static_cast<uint16_t>(qa.next_used - 1) % qa.size));
      FUZZ_CHECK(last && last->id < qa.size, what() + ": the last used element's id");
      if (!IsBlock(mode_)) {
        FUZZ_CHECK(last->len <= virtio::EntropyDevice::kMaxBytesPerRequest,
                   what() + ": virtio-rng gave more than its maximum");
      }
    }
    const bool broke =
        !(before.status & status::kNeedsReset) && (after.status & status::kNeedsReset);
    if (broke) {
      FUZZ_CHECK(after.interrupt_status & virtio::kInterruptConfigChange,
                 what() + ": DEVICE_NEEDS_RESET without a configuration change interrupt");
    } else if (served > 0 && !qa.event_idx) {
      const std::optional<uint16_t> flags = writer_.ReadValue<uint16_t>(avail);
      if (flags && !(*flags & VRING_AVAIL_F_NO_INTERRUPT)) {
        FUZZ_CHECK(after.interrupt_status & virtio::kInterruptUsedBuffer,
                   what() + ": used buffers without an interrupt");
      }
    }
    CheckImage();
  }

  void RunEventLoop() {
    CollectNotifications();
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (!pending_[i]) continue;
      pending_[i] = false;
      ProcessQueue(i);
    }
  }

  void CheckAlways() {
    const MmioTransportState s = transport_->state();
    const auto what = [&] { return "state " + Describe(s); };
    FUZZ_CHECK((s.status & ~(kKnownStatus | status::kNeedsReset)) == 0,
               what() + ": unknown status bits");
    if (s.status & status::kDriverOk) {
      FUZZ_CHECK(s.status & status::kFeaturesOk, what() + ": DRIVER_OK without FEATURES_OK");
    }
    if (s.status & status::kFeaturesOk) {
      FUZZ_CHECK(s.status & status::kDriver, what() + ": FEATURES_OK without DRIVER");
      FUZZ_CHECK(s.driver_features & virtio::kFeatureVersion1,
                 what() + ": FEATURES_OK without VIRTIO_F_VERSION_1 accepted");
      FUZZ_CHECK((s.driver_features & ~offered_) == 0,
                 what() + ": FEATURES_OK with features accepted that were never offered");
    }
    if (s.status & status::kDriver) {
      FUZZ_CHECK(s.status & status::kAcknowledge, what() + ": DRIVER without ACKNOWLEDGE");
    }
    FUZZ_CHECK((s.interrupt_status & ~uint32_t{3}) == 0,
               what() + ": InterruptStatus beyond bits 0-1");
    for (size_t i = 0; i < s.queues.size(); ++i) {
      const VirtqueueState& q = s.queues[i];
      if (!q.ready) continue;
      FUZZ_CHECK(s.status & status::kFeaturesOk, what() + ": a queue ready before FEATURES_OK");
      FUZZ_CHECK(ValidQueueLayout(q, kQueueMax, kMemorySize),
                 what() + ": a ready queue with a bad configuration");
      FUZZ_CHECK(q.next_avail == q.next_used, what() + ": a ready queue holds chains");
      const bool event_idx = (s.driver_features & virtio::kFeatureEventIdx) != 0;
      const bool indirect = (s.driver_features & virtio::kFeatureIndirectDesc) != 0;
      FUZZ_CHECK(
          q.event_idx == event_idx && q.indirect_descriptors == indirect,
          absl::StrFormat("%s: queue %d is ready with event idx %d and indirect %d, but "
                          "the driver negotiated %d and %d",
                          what(), i, q.event_idx, q.indirect_descriptors, event_idx, indirect));
    }
    FUZZ_CHECK(interrupt_.count() - interrupts_before_ == transport_->counters().interrupts,
               "interrupts counted are not the line's edges");
  }

  void CheckImage() {
    if (!IsBlock(mode_)) return;
    ImageFile& image = ImageFile::Get();
    FUZZ_CHECK(image.Size() == image_size_,
               absl::StrFormat("the image is %d bytes, was %d", image.Size(), image_size_));
    if (mode_ == kBlockReadOnly || mode_ == kBlockReadOnlyFd) {
      FUZZ_CHECK(image.Contents() == image.Pattern(image_size_), "a read-only image changed");
    } else if (mode_ == kBlockOddTail) {
      const std::vector<uint8_t>& now = image.Contents();
      const std::vector<uint8_t>& fresh = image.Pattern(image_size_);
      FUZZ_CHECK(std::equal(now.begin() + kImageSize, now.end(), fresh.begin() + kImageSize),
                 "the image's tail beyond the last whole sector changed");
    }
  }

 private:
  void AddStatus(uint32_t bits) { Write(mmio::kStatus, 4, Read(mmio::kStatus, 4) | bits); }

  void CollectNotifications() {
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (transport_->queue_notifier(i).Consume() > 0) pending_[i] = true;
    }
  }

  uint64_t ExpectedRead(const MmioTransportState& s, uint64_t offset, size_t width) const {
    if (offset >= mmio::kConfig) {
      uint64_t value = 0;
      const uint64_t at = offset - mmio::kConfig;
      for (size_t i = 0; i < width; ++i) {
        if (at + i < config_.size()) value |= uint64_t{config_[at + i]} << (8 * i);
      }
      return value;
    }
    if (width != 4 || offset % 4 != 0) return 0;
    const bool selected = s.queue_sel < s.queues.size();
    switch (offset) {
      case mmio::kMagicValue:
        return mmio::kMagic;
      case mmio::kVersion:
        return mmio::kVersion2;
      case mmio::kDeviceId:
        return IsBlock(mode_) ? virtio::kDeviceIdBlock : virtio::kDeviceIdEntropy;
      case mmio::kVendorId:
        return mmio::kVendor;
      case mmio::kDeviceFeatures:
        return s.device_features_sel == 0   ? offered_ & 0xffffffff
               : s.device_features_sel == 1 ? offered_ >> 32
                                            : 0;
      case mmio::kQueueNumMax:
        return selected ? kQueueMax : 0;
      case mmio::kQueueReady:
        return selected && s.queues[s.queue_sel].ready ? 1 : 0;
      case mmio::kInterruptStatus:
        return s.interrupt_status;
      case mmio::kStatus:
        return s.status;
      case mmio::kConfigGeneration:
        return s.config_generation;
      case mmio::kShmLenLow:
      case mmio::kShmLenHigh:
      case mmio::kShmBaseLow:
      case mmio::kShmBaseHigh:
        return 0xffffffff;  // no shared memory regions (4.2.2)
      default:
        return 0;  // write-only or unknown
    }
  }

  MmioTransportState ExpectedWrite(const MmioTransportState& s, uint64_t offset, size_t width,
                                   uint64_t value64, bool& status_open) const {
    MmioTransportState e = s;
    if (offset >= mmio::kConfig || width != 4 || offset % 4 != 0) return e;
    const uint32_t v = static_cast<uint32_t>(value64);
    const bool negotiating = (s.status & status::kFeaturesOk) && !(s.status & status::kDriverOk);
    switch (offset) {
      case mmio::kDeviceFeaturesSel:
        e.device_features_sel = v;
        break;
      case mmio::kDriverFeaturesSel:
        e.driver_features_sel = v;
        break;
      case mmio::kDriverFeatures:
        if ((s.status & status::kDriver) && !(s.status & status::kFeaturesOk) &&
            s.driver_features_sel <= 1) {
          e.driver_features = s.driver_features_sel == 0 ? WithLow(s.driver_features, v)
                                                         : WithHigh(s.driver_features, v);
        }
        break;
      case mmio::kQueueSel:
        e.queue_sel = v;
        break;
      case mmio::kInterruptAck:
        e.interrupt_status = s.interrupt_status & ~v;
        break;
      case mmio::kStatus: {
        if (v == 0) {
          e = fresh_;
          e.config_generation = s.config_generation;
          break;
        }
        const std::optional<uint32_t> next =
            ExpectedStatus(s.status, v, s.driver_features, offered_);
        if (!next) {
          status_open = true;
          break;
        }
        e.status = *next;
        if ((e.status & status::kFeaturesOk) && !(s.status & status::kFeaturesOk)) {
          for (VirtqueueState& q : e.queues) {
            if (q.ready) continue;
            q.event_idx = (s.driver_features & virtio::kFeatureEventIdx) != 0;
            q.indirect_descriptors = (s.driver_features & virtio::kFeatureIndirectDesc) != 0;
          }
        }
        break;
      }
      case mmio::kQueueNum:
      case mmio::kQueueReady:
      case mmio::kQueueDescLow:
      case mmio::kQueueDescHigh:
      case mmio::kQueueDriverLow:
      case mmio::kQueueDriverHigh:
      case mmio::kQueueDeviceLow:
      case mmio::kQueueDeviceHigh: {
        if (s.queue_sel >= s.queues.size()) break;
        VirtqueueState& q = e.queues[s.queue_sel];
        if (offset == mmio::kQueueReady && v == 0) {
          q = fresh_.queues[s.queue_sel];
          break;
        }
        if (!negotiating || q.ready) break;
        switch (offset) {
          case mmio::kQueueNum:
            if (v <= 0xffff) q.size = static_cast<uint16_t>(v);
            break;
          case mmio::kQueueReady:
            if (ValidQueueLayout(q, kQueueMax, kMemorySize)) {
              q.ready = true;
              q.next_avail = q.next_used = q.signalled_used = 0;
            }
            break;
          case mmio::kQueueDescLow:
            q.descriptor_table = GuestAddress(WithLow(q.descriptor_table.value(), v));
            break;
          case mmio::kQueueDescHigh:
            q.descriptor_table = GuestAddress(WithHigh(q.descriptor_table.value(), v));
            break;
          case mmio::kQueueDriverLow:
            q.available_ring = GuestAddress(WithLow(q.available_ring.value(), v));
            break;
          case mmio::kQueueDriverHigh:
            q.available_ring = GuestAddress(WithHigh(q.available_ring.value(), v));
            break;
          case mmio::kQueueDeviceLow:
            q.used_ring = GuestAddress(WithLow(q.used_ring.value(), v));
            break;
          case mmio::kQueueDeviceHigh:
            q.used_ring = GuestAddress(WithHigh(q.used_ring.value(), v));
            break;
        }
        break;
      }
      default:
        break;  // read-only, QueueNotify (the notifier only), ShmSel, unknown
    }
    return e;
  }

  const uint8_t mode_;
  std::shared_ptr<GuestMemory> memory_;
  CountingInterrupt interrupt_;
  uint64_t interrupts_before_ = 0;  // edges from transports replaced by Snapshot
  std::unique_ptr<MmioTransport> transport_;
  MmioTransportState fresh_;
  uint64_t offered_ = 0;
  uint64_t image_size_ = 0;
  std::vector<uint8_t> config_;
  std::vector<bool> pending_;  // notifiers that fired and were not served yet
  RingWriter writer_;
  Arena data_;
  Arena tables_;
  uint16_t cursor_ = 0;  // the next descriptor a request uses
};

uint64_t ConsumeRegister(FuzzedDataProvider& provider) {
  if (provider.ConsumeBool()) {
    return kRegisters[provider.ConsumeIntegralInRange<uint8_t>(0, kRegisterCount - 1)];
  }
  return provider.ConsumeIntegralInRange<uint16_t>(0, kMaxRegisterOffset);
}

size_t ConsumeWidth(FuzzedDataProvider& provider) {
  if (provider.ConsumeBool()) return 4;
  return provider.ConsumeIntegralInRange<uint8_t>(1, 8);
}

}  // namespace

void FuzzOneInput(FuzzedDataProvider& provider) {
  Harness harness(ClearedGuestMemory(kMemorySize),
                  provider.ConsumeIntegralInRange<uint8_t>(0, kLastMode));
  for (int i = 0; i < kMaxOperations && provider.remaining_bytes() > 0; ++i) {
    switch (provider.ConsumeIntegralInRange<uint8_t>(0, kLastOp)) {
      case kInit: {
        const uint8_t flags = provider.ConsumeIntegral<uint8_t>();
        const uint8_t log2 = provider.ConsumeIntegralInRange<uint8_t>(0, kMaxSizeLog2);
        const uint8_t layout = provider.ConsumeIntegralInRange<uint8_t>(0, kLastLayout);
        uint64_t desc = 0, avail = 0, used = 0;
        if (layout == kRawLayout) {
          desc = ConsumeAddress(provider, kNear);
          avail = ConsumeAddress(provider, kNear);
          used = ConsumeAddress(provider, kNear);
        }
        harness.Init(flags, log2, layout, desc, avail, used);
        break;
      }
      case kWriteRegister: {
        const uint64_t offset = ConsumeRegister(provider);
        const size_t width = ConsumeWidth(provider);
        harness.Write(offset, width, harness.ConsumeValue(provider, offset));
        break;
      }
      case kReadRegister: {
        const uint64_t offset = ConsumeRegister(provider);
        harness.Read(offset, ConsumeWidth(provider));
        break;
      }
      case kReadConfig: {
        const uint16_t offset = provider.ConsumeIntegralInRange<uint16_t>(0, kMaxConfigOffset);
        harness.Read(virtio::mmio::kConfig + offset,
                     provider.ConsumeIntegralInRange<uint8_t>(1, 8));
        break;
      }
      case kWriteConfig: {
        const uint16_t offset = provider.ConsumeIntegralInRange<uint16_t>(0, kMaxConfigOffset);
        const uint8_t width = provider.ConsumeIntegralInRange<uint8_t>(1, 8);
        harness.Write(virtio::mmio::kConfig + offset, width, provider.ConsumeIntegral<uint64_t>());
        break;
      }
      case kSetDescriptor: {
        const uint16_t queue_size = harness.SizeForRanges();
        const uint16_t index = provider.ConsumeIntegralInRange<uint16_t>(0, queue_size - 1);
        harness.SetDescriptor(index, ConsumeDescriptor(provider, kNear, queue_size));
        break;
      }
      case kWriteDescriptorAt: {
        const uint32_t offset = provider.ConsumeIntegralInRange<uint32_t>(0, kMemorySize - 16);
        harness.WriteDescriptor(offset,
                                ConsumeDescriptor(provider, kNear, harness.SizeForRanges()));
        break;
      }
      case kMakeAvailable:
        harness.MakeAvailable(
            provider.ConsumeIntegralInRange<uint16_t>(0, harness.SizeForRanges()));
        break;
      case kMoveAvailIdx:
        harness.MoveAvailIdx(provider.ConsumeIntegral<uint16_t>());
        break;
      case kSetDriverFields: {
        const uint16_t flags = provider.ConsumeIntegral<uint16_t>();
        harness.SetDriverFields(flags, provider.ConsumeIntegral<uint16_t>());
        break;
      }
      case kRequest:
        harness.Request(ConsumeRequest(provider));
        break;
      case kPatch: {
        const uint32_t offset = provider.ConsumeIntegralInRange<uint32_t>(0, kMemorySize - 1);
        const uint8_t count = provider.ConsumeIntegralInRange<uint8_t>(0, kMaxPatchBytes);
        harness.Patch(offset, provider.ConsumeBytes<uint8_t>(count));
        break;
      }
      case kProcessQueue:
        harness.ProcessQueue(provider.ConsumeIntegralInRange<uint8_t>(0, 2));
        break;
      case kNotify:
        harness.Write(virtio::mmio::kQueueNotify, 4,
                      provider.ConsumeIntegralInRange<uint8_t>(0, 2));
        harness.RunEventLoop();
        break;
      case kRunEventLoop:
        harness.RunEventLoop();
        break;
      case kInterruptAck: {
        const uint64_t value = provider.ConsumeBool()
                                   ? harness.Read(virtio::mmio::kInterruptStatus, 4)
                                   : provider.ConsumeIntegral<uint8_t>();
        harness.Write(virtio::mmio::kInterruptAck, 4, value);
        break;
      }
      case kReset:
        harness.Write(virtio::mmio::kStatus, 4, 0);
        break;
      case kSnapshot:
        harness.Snapshot();
        break;
    }
    harness.CheckAlways();
  }
  harness.RunEventLoop();
  harness.CheckAlways();
  harness.CheckImage();
}

}  // namespace vmmd::fuzz
