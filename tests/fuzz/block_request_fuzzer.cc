// Fuzzes virtio-blk's request handling (devices/virtio/block_device: BlockDevice::
// ProcessQueue) with requests of any type, sector, length and framing, fed through a ready
// Virtqueue in 512 KiB of guest RAM, against a reference model of virtio 1.2 section 5.2.6 as
// block_device.h narrows it. Input, read through FuzzedDataProvider in this order (seed_gen.cc
// writes seeds with FdpEncoder in the same order; ranges and opcodes in virtio_device_ops.h):
//   mode          uint8 in [0, kLastMode]: read-write; read-only (VIRTIO_BLK_F_RO, on a
//                 read-write fd, so that only the device stands between a write and the
//                 image); read-write on an image with an odd tail (64 KiB + 300 bytes)
//   queue size    1 << log2, log2 uint8 in [0, kMaxSizeLog2]
//   features      uint8 in [0, 3]: bit 0 VIRTIO_F_EVENT_IDX, bit 1 VIRTIO_F_INDIRECT_DESC
//   drive id      length uint8 in [0, 20] of "vmmd-fuzz-drive-0123"
// then operations, each an opcode uint8 in [0, kLastOp] and its operands:
//   kRequest      a request (virtio_device_ops.h), laid out with free descriptors and made
//                 available (dropped when descriptors or buffer space run out)
//   kProcess      BlockDevice::ProcessQueue(0)
//   kWrongIndex   index uint8 in [1, 255]: ProcessQueue(index)
//   kBreakRing    bool jump; jump: avail->idx moves size + 1 + uint8 ahead; otherwise a head
//                 of size + uint8 is made available
// and at the end kProcess once more.
//
// The model works on a mirror of guest RAM and of the image. Per chain, in ring order
// (block_device.h; spec 5.2.6 and 5.2.6.1):
//   - no 16-byte header in the readable part or no writable byte: used length 0, nothing
//     written, an error;
//   - the status byte is the last writable byte; IN fills the writable bytes before it from
//     the image at sector * 512 when they are whole sectors inside the capacity (size / 512,
//     rounded down), else IOERR; OUT writes the readable bytes after the header likewise, or
//     IOERR, always IOERR on a read-only drive; FLUSH is OK; GET_ID writes the first
//     min(20, writable - 1) bytes of the zero-padded id; other types are UNSUPP;
//   - used length: data given to the guest + 1 (0 data unless OK);
//   - Pop's rules (2.7): avail->idx more than size ahead, a head >= size, an indirect chain
//     without the feature, or more buffers than the queue size make ProcessQueue fail with
//     INVALID_ARGUMENT after serving the chains before (the harness then resets the queue);
//     with event idx, an empty ring gets avail_event = next_avail (2.7.10).
// Checked after each ProcessQueue: its status, the queue's indices, every byte of guest RAM
// (so the used ring, data and status bytes, and nothing else), every byte and the size of the
// image, and the device's counters (requests, errors, bytes read and written).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "devices/virtio/block_device.h"
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

using namespace ::vmmd::fuzz::block_request;  // NOLINT: the format's constants
using ::vmmd::virtio::BlockDevice;
using ::vmmd::virtio::DeviceCounters;
using ::vmmd::virtio::Virtqueue;

constexpr int kMaxOperations = 1000;
constexpr char kDriveId[] = "vmmd-fuzz-drive-0123";

// The model's image, kept across inputs too: a copy of `image`.
std::vector<uint8_t>& ModelImage(const std::vector<uint8_t>& image) {
  static std::vector<uint8_t>& model = *new std::vector<uint8_t>();
  model.assign(image.begin(), image.end());
  return model;
}

// The model's guest RAM, kept across inputs for the same reason.
std::vector<uint8_t>& ModelRam() {
  static std::vector<uint8_t>& ram = *new std::vector<uint8_t>(kMemorySize);
  std::memset(ram.data(), 0, ram.size());
  return ram;
}

// The first byte at which two buffers differ, for messages.
size_t FirstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return n;
}

class Harness {
 public:
  Harness(GuestMemory& memory, BlockDevice& device, bool read_only, uint16_t size, uint8_t features,
          const std::vector<uint8_t>& image, const std::string& drive_id)
      : memory_(memory),
        device_(device),
        read_only_(read_only),
        size_(size),
        event_idx_(features & 1),
        indirect_(features & 2),
        ram_(ModelRam()),
        image_(ModelImage(image)),
        capacity_(image_.size() / 512),
        writer_(memory, &ram_),
        data_(kDataBegin, kDataEnd),
        tables_(kIndirectBegin, kIndirectEnd) {
    std::memcpy(id_, drive_id.data(), drive_id.size());
    StartQueue();
  }

  void Request(const RequestSpec& spec) {
    std::vector<uint16_t> free;
    for (uint16_t i = 0; i < size_; ++i) {
      if (!in_use_[i]) free.push_back(i);
    }
    if (free.empty()) return;
    std::optional<BuiltChain> chain =
        writer_.LayOut(spec, data_, tables_, kDescriptorTable, free, /*wrap=*/false);
    if (!chain) return;
    for (uint16_t d : chain->descriptors) in_use_[d] = true;
    pending_[chain->head] = *chain;
    FUZZ_CHECK(writer_.MakeAvailable(kAvailableRing, size_, chain->head), "MakeAvailable");
  }

  void BreakRing(bool jump, uint8_t extra) {
    if (jump) {
      const uint16_t idx = Ram16(kAvailableRing + virtio::kAvailIdxOffset);
      writer_.WriteValue<uint16_t>(kAvailableRing + virtio::kAvailIdxOffset,
                                   static_cast<uint16_t>(idx + size_ + 1 + extra));
    } else {
      writer_.MakeAvailable(kAvailableRing, size_, static_cast<uint16_t>(size_ + extra));
    }
  }

  void WrongIndex(uint8_t index) {
    const virtio::VirtqueueState before = queue_->state();
    const absl::Status status = device_.ProcessQueue(index, *queue_, memory_);
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               absl::StrFormat("ProcessQueue(%d): %s", index, status.ToString()));
    FUZZ_CHECK(queue_->state() == before, "ProcessQueue of a wrong index moved the queue");
    FUZZ_CHECK(CopyOfRam(memory_) == ram_, "ProcessQueue of a wrong index wrote guest RAM");
  }

  void Process() {
    const bool expect_ok = ModelProcess();
    const absl::Status status = device_.ProcessQueue(0, *queue_, memory_);
    const std::string what =
        absl::StrFormat("ProcessQueue (size %d, event idx %d, indirect %d, read-only %d)", size_,
                        event_idx_, indirect_, read_only_);
    if (expect_ok) {
      FUZZ_CHECK(status.ok(), what + ": " + status.ToString());
    } else {
      FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
                 what + ": the model expected a broken ring, got " + status.ToString());
    }
    FUZZ_CHECK(queue_->state().next_avail == next_avail_ && queue_->state().next_used == next_used_,
               absl::StrFormat("%s: next_avail %d next_used %d, the model has %d %d", what,
                               queue_->state().next_avail, queue_->state().next_used, next_avail_,
                               next_used_));
    const std::vector<uint8_t>& ram = CopyOfRam(memory_);
    FUZZ_CHECK(ram == ram_, absl::StrFormat("%s: guest RAM differs from the model at %#x", what,
                                            FirstDifference(ram, ram_)));
    const std::vector<uint8_t>& image = ImageFile::Get().Contents();
    FUZZ_CHECK(image.size() == image_.size(), absl::StrFormat("%s: the image is %d bytes, was %d",
                                                              what, image.size(), image_.size()));
    FUZZ_CHECK(image == image_, absl::StrFormat("%s: the image differs from the model at %#x", what,
                                                FirstDifference(image, image_)));
    const DeviceCounters counters = device_.counters();
    FUZZ_CHECK(counters.requests == counters_.requests && counters.errors == counters_.errors &&
                   counters.bytes_read == counters_.bytes_read &&
                   counters.bytes_written == counters_.bytes_written,
               absl::StrFormat("%s: counters %d %d %d %d, the model has %d %d %d %d", what,
                               counters.requests, counters.errors, counters.bytes_read,
                               counters.bytes_written, counters_.requests, counters_.errors,
                               counters_.bytes_read, counters_.bytes_written));
    if (!expect_ok) {
      // The device is in DEVICE_NEEDS_RESET: the driver resets it and starts over.
      StartQueue();
      return;
    }
    FUZZ_CHECK(pending_.empty(), "the model left chains pending after a good ProcessQueue");
    std::fill(in_use_.begin(), in_use_.end(), false);
    data_.Clear();
    tables_.Clear();
  }

 private:
  uint16_t Ram16(uint64_t address) const {
    uint16_t value;
    std::memcpy(&value, &ram_[address], 2);
    return value;
  }
  void SetRam16(uint64_t address, uint16_t value) { std::memcpy(&ram_[address], &value, 2); }

  // A fresh queue over zeroed rings (the driver's part of 2.7.10.1 and 4.2.3.2).
  void StartQueue() {
    writer_.Fill(kDescriptorTable, 0, virtio::DescriptorTableBytes(size_));
    writer_.Fill(kAvailableRing, 0, virtio::AvailableRingBytes(size_));
    writer_.Fill(kUsedRing, 0, virtio::UsedRingBytes(size_));
    absl::StatusOr<Virtqueue> queue = Virtqueue::Create(BlockDevice::kQueueSize);
    FUZZ_CHECK(queue.ok(), queue.status().ToString());
    FUZZ_CHECK(queue->SetSize(size_).ok() &&
                   queue->SetDescriptorTable(GuestAddress(kDescriptorTable)).ok() &&
                   queue->SetAvailableRing(GuestAddress(kAvailableRing)).ok() &&
                   queue->SetUsedRing(GuestAddress(kUsedRing)).ok() &&
                   queue
                       ->SetFeatures((event_idx_ ? virtio::kFeatureEventIdx : 0) |
                                     (indirect_ ? virtio::kFeatureIndirectDesc : 0))
                       .ok(),
               "configuring the queue");
    const absl::Status ready = queue->SetReady(memory_);
    FUZZ_CHECK(ready.ok(), ready.ToString());
    queue_ = *std::move(queue);
    next_avail_ = next_used_ = 0;
    pending_.clear();
    in_use_.assign(size_, false);
    data_.Clear();
    tables_.Clear();
  }

  // Bytes [offset, offset + out.size()) of the chain's readable or writable part.
  void Gather(const BuiltChain& chain, bool writable, uint64_t offset, uint8_t* out,
              uint64_t length) {
    for (const BuiltBuffer& b : chain.buffers) {
      if (b.writable != writable) continue;
      if (offset >= b.length) {
        offset -= b.length;
        continue;
      }
      const uint64_t take = std::min<uint64_t>(b.length - offset, length);
      std::memcpy(out, &ram_[b.address + offset], take);
      out += take;
      length -= take;
      offset = 0;
      if (length == 0) return;
    }
    FUZZ_CHECK(length == 0, "model: gather past the part");
  }
  void Scatter(const BuiltChain& chain, uint64_t offset, const uint8_t* in, uint64_t length) {
    for (const BuiltBuffer& b : chain.buffers) {
      if (!b.writable) continue;
      if (offset >= b.length) {
        offset -= b.length;
        continue;
      }
      const uint64_t take = std::min<uint64_t>(b.length - offset, length);
      std::memcpy(&ram_[b.address + offset], in, take);
      in += take;
      length -= take;
      offset = 0;
      if (length == 0) return;
    }
    FUZZ_CHECK(length == 0, "model: scatter past the part");
  }

  bool InRange(uint64_t sector, uint64_t length) const {
    return length % 512 == 0 && sector <= capacity_ && length / 512 <= capacity_ - sector;
  }

  // One chain, as block_device.h describes it: the used length.
  uint32_t Serve(const BuiltChain& chain) {
    ++counters_.requests;
    const uint64_t readable = chain.readable_length(), writable = chain.writable_length();
    if (readable < 16 || writable < 1) {
      ++counters_.errors;
      return 0;
    }
    uint8_t header[16];
    Gather(chain, false, 0, header, 16);
    uint32_t type;
    uint64_t sector;
    std::memcpy(&type, header, 4);
    std::memcpy(&sector, header + 8, 8);
    const uint64_t in_length = writable - 1, out_length = readable - 16;
    uint8_t status = VIRTIO_BLK_S_OK;
    uint64_t given = 0;
    switch (type) {
      case VIRTIO_BLK_T_IN:
        if (!InRange(sector, in_length)) {
          status = VIRTIO_BLK_S_IOERR;
        } else {
          Scatter(chain, 0, image_.data() + sector * 512, in_length);
          counters_.bytes_read += in_length;
          given = in_length;
        }
        break;
      case VIRTIO_BLK_T_OUT:
        if (read_only_ || !InRange(sector, out_length)) {
          status = VIRTIO_BLK_S_IOERR;
        } else {
          Gather(chain, false, 16, image_.data() + sector * 512, out_length);
          counters_.bytes_written += out_length;
        }
        break;
      case VIRTIO_BLK_T_FLUSH:
        break;
      case VIRTIO_BLK_T_GET_ID:
        given = std::min<uint64_t>(in_length, sizeof(id_));
        Scatter(chain, 0, id_, given);
        break;
      default:
        status = VIRTIO_BLK_S_UNSUPP;
    }
    if (status != VIRTIO_BLK_S_OK) {
      ++counters_.errors;
      given = 0;
    }
    Scatter(chain, writable - 1, &status, 1);
    return static_cast<uint32_t>(given + 1);
  }

  // What ProcessQueue should do, applied to the model: Virtqueue::Pop's rules (virtqueue.h,
  // spec 2.7) around Serve. False when the ring is broken.
  bool ModelProcess() {
    while (true) {
      uint16_t pending =
          static_cast<uint16_t>(Ram16(kAvailableRing + virtio::kAvailIdxOffset) - next_avail_);
      if (pending == 0 && event_idx_) {
        SetRam16(kUsedRing + virtio::AvailEventOffset(size_), next_avail_);
        pending =
            static_cast<uint16_t>(Ram16(kAvailableRing + virtio::kAvailIdxOffset) - next_avail_);
      }
      if (pending > size_) return false;
      if (pending == 0) return true;
      const uint16_t head = Ram16(kAvailableRing + virtio::AvailEntryOffset(next_avail_ % size_));
      if (head >= size_) return false;
      const auto found = pending_.find(head);
      FUZZ_CHECK(found != pending_.end(), "model: a head the harness never made available");
      const BuiltChain chain = found->second;
      // DescriptorChain::Walk: the feature, and at most `size` buffers (or indirect entries).
      if ((chain.indirect && !indirect_) || chain.buffers.size() > size_) return false;
      pending_.erase(found);
      ++next_avail_;
      const uint32_t used = Serve(chain);
      vring_used_elem element;
      element.id = head;
      element.len = used;
      std::memcpy(&ram_[kUsedRing + virtio::UsedElementOffset(next_used_ % size_)], &element,
                  sizeof(element));
      ++next_used_;
      SetRam16(kUsedRing + virtio::kUsedIdxOffset, next_used_);
    }
  }

  GuestMemory& memory_;
  BlockDevice& device_;
  const bool read_only_;
  const uint16_t size_;
  const bool event_idx_;
  const bool indirect_;
  std::vector<uint8_t>& ram_;    // the model's guest RAM
  std::vector<uint8_t>& image_;  // the model's image
  const uint64_t capacity_;
  uint8_t id_[BlockDevice::kIdBytes] = {};
  RingWriter writer_;
  Arena data_;
  Arena tables_;
  std::optional<Virtqueue> queue_;
  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
  std::map<uint16_t, BuiltChain> pending_;  // made available, by head
  std::vector<bool> in_use_;                // descriptors held by pending chains
  DeviceCounters counters_;
};

}  // namespace

void FuzzOneInput(FuzzedDataProvider& provider) {
  GuestMemory& memory = *ClearedGuestMemory(kMemorySize);

  const uint8_t mode = provider.ConsumeIntegralInRange<uint8_t>(0, kLastMode);
  const uint16_t queue_size = ConsumeQueueSize(provider, kMaxSizeLog2);
  const uint8_t features = provider.ConsumeIntegralInRange<uint8_t>(0, 3);
  const std::string drive_id(
      kDriveId, provider.ConsumeIntegralInRange<uint8_t>(0, virtio::BlockDevice::kIdBytes));
  const bool read_only = mode == kReadOnly;
  const uint64_t image_size = kImageSize + (mode == kOddTail ? kImageOddTail : 0);

  ImageFile& image = ImageFile::Get();
  image.Reset(image_size);
  absl::StatusOr<std::unique_ptr<virtio::BlockDevice>> device =
      virtio::BlockDevice::Create(image.Open(/*read_only_fd=*/false), read_only, drive_id);
  FUZZ_CHECK(device.ok(), device.status().ToString());
  FUZZ_CHECK((*device)->capacity() == image_size / 512, "capacity is not the whole sectors");

  Harness harness(memory, **device, read_only, queue_size, features, image.Contents(), drive_id);
  for (int i = 0; i < kMaxOperations && provider.remaining_bytes() > 0; ++i) {
    switch (provider.ConsumeIntegralInRange<uint8_t>(0, kLastOp)) {
      case kRequest:
        harness.Request(ConsumeRequest(provider));
        break;
      case kProcess:
        harness.Process();
        break;
      case kWrongIndex:
        harness.WrongIndex(provider.ConsumeIntegralInRange<uint8_t>(1, 255));
        break;
      case kBreakRing: {
        const bool jump = provider.ConsumeBool();
        harness.BreakRing(jump, provider.ConsumeIntegral<uint8_t>());
        break;
      }
    }
  }
  harness.Process();
}

}  // namespace vmmd::fuzz
