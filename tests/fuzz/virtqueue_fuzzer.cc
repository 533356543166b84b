// Fuzzes the split virtqueue (devices/virtio: Virtqueue, DescriptorChain) with the rings and
// descriptors a hostile driver lays out in 64 KiB of guest RAM. Input, read through
// FuzzedDataProvider in this order (seed_gen.cc writes seeds with FdpEncoder in the same
// order; ranges and opcodes are in virtqueue_ops.h):
//   max size        uint16 in [1, 32768]              (the device's QueueNumMax)
//   size            bool raw; raw: uint16, else log2 uint8 in [0, kMaxSizeLog2]
//   desc, avail,    each: bool far; far: uint64, else uint64 in [0, kMaxNearAddress]
//   used addresses
//   features        uint8 in [0, 3]: bit 0 VIRTIO_F_EVENT_IDX, bit 1 VIRTIO_F_INDIRECT_DESC
//   start index     uint16: next_avail = next_used = avail->idx = used->idx, via Restore
//   limits          bool unlimited; if not, max_total_length uint32 in [0, kMaxLimitLength];
//                   then max_buffers uint32 in [0, kMaxLimitBuffers]
// then operations, each an opcode uint8 in [0, kLastOp] and its operands:
//   kSetDescriptor     index uint16 in [0, size - 1], descriptor
//   kWriteDescriptorAt offset uint16 in [0, kMemorySize - 16], descriptor
//       descriptor = address (bool far; far: uint64, else uint64 in [0, kMaxNearAddress]),
//                    length (bool big; big: uint32, else uint32 in [0, kMaxNearLength]),
//                    flags uint8 in [0, 7], next uint16 in [0, size]
//   kMakeAvailable     head uint16 in [0, size]
//   kMoveAvailIdx      delta uint16
//   kSetDriverFields   avail flags uint16, used_event uint16
//   kPop               write offset uint16 in [0, kMaxWriteBytes], write length uint16 in
//                      [0, kMaxWriteBytes], pattern uint8
//   kAddUsed           which held chain uint8, written length uint32 in [0, its writable
//                      length] (nothing when none is held)
//   kNeedsInterrupt, kSnapshot: nothing
//   kPatch             offset uint16, count uint8 in [0, kMaxPatchBytes], then count bytes
// and at the end the device returns what it holds and pops until the ring is empty.
//
// Checked, against models written here from virtio 1.2 section 2.7 and the headers:
//   - SetReady succeeds exactly for a power-of-two size in [1, max size] with the rings
//     aligned (16, 2, 4) and inside RAM for 16 * size, 6 + 2 * size, 6 + 8 * size bytes;
//     a queue that is not ready moves nothing (FAILED_PRECONDITION);
//   - Pop: nullopt exactly when avail->idx == next_avail (after setting avail_event to
//     next_avail, with event idx, 2.7.10); an error exactly when idx ran more than size
//     ahead, size chains are in flight already, the head is >= size, or a reference walk of
//     the chain (visited sets instead of hop counts) fails; otherwise the same buffers as the
//     reference, each inside RAM, readable ones first, within the limits. On nullopt or an
//     error the state is unchanged; Pop writes no guest memory but avail_event;
//   - a popped chain's ReadFromReadable returns exactly the bytes of its readable buffers,
//     WriteToWritable changes exactly the bytes of its writable buffers (a copy of RAM with
//     the expected writes applied is compared), and both refuse one byte more;
//   - AddUsed writes {head, len} at used->ring[next_used % size] and used->idx = next_used + 1
//     and moves nothing else; used->idx only ever moves by the elements added; it fails for
//     a head >= size and when nothing is in flight; in_flight() is the chains held;
//   - NeedsInterrupt is true exactly when something was added since the last call and,
//     without event idx, avail->flags lacks VRING_AVAIL_F_NO_INTERRUPT, or, with event idx,
//     one of the used indices written since then equals used_event (2.7.7.2);
//   - a queue restored from state() has the same state.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "devices/virtio/descriptor_chain.h"
#include "devices/virtio/split_ring.h"
#include "devices/virtio/virtqueue.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_one_input.h"
#include "tests/fuzz/guest_ram.h"
#include "tests/fuzz/queue_layout.h"
#include "tests/fuzz/virtqueue_ops.h"

namespace vmmd::fuzz {
namespace {

using namespace ::vmmd::fuzz::virtqueue;  // NOLINT: the format's constants
using ::vmmd::virtio::ChainBuffer;
using ::vmmd::virtio::ChainLimits;
using ::vmmd::virtio::DescriptorChain;
using ::vmmd::virtio::Virtqueue;
using ::vmmd::virtio::VirtqueueState;

constexpr int kMaxOperations = 2000;
constexpr NearRanges kNear = {kMaxNearAddress, kMaxNearLength};

template <typename T>
T ReadOrDie(const GuestMemory& memory, uint64_t address) {
  absl::StatusOr<T> value = memory.Read<T>(GuestAddress(address));
  FUZZ_CHECK(value.ok(), value.status().ToString());
  return *value;
}

// The chain the spec describes (2.7.5, 2.7.5.3), found with visited sets; nullopt when the
// driver broke a rule.
class ReferenceWalk {
 public:
  ReferenceWalk(const GuestMemory& memory, const VirtqueueState& state, const ChainLimits& limits)
      : memory_(memory), state_(state), limits_(limits),
        max_buffers_(std::min<uint64_t>(limits.max_buffers, state.size)) {}

  std::optional<std::vector<ChainBuffer>> Walk(uint16_t head) {
    if (head >= state_.size) return std::nullopt;
    std::set<uint32_t> visited;
    uint32_t index = head;
    while (true) {
      if (!visited.insert(index).second) return std::nullopt;  // a loop
      const vring_desc d = ReadOrDie<vring_desc>(
          memory_, state_.descriptor_table.value() + virtio::kDescriptorSize * index);
      if (d.flags & VRING_DESC_F_INDIRECT) {
        if (!state_.indirect_descriptors || (d.flags & VRING_DESC_F_NEXT)) return std::nullopt;
        if (!Indirect(d)) return std::nullopt;
        break;
      }
      if (!Add(d)) return std::nullopt;
      if (!(d.flags & VRING_DESC_F_NEXT)) break;
      if (d.next >= state_.size) return std::nullopt;
      index = d.next;
    }
    return buffers_;
  }

 private:
  bool Indirect(const vring_desc& d) {
    if (d.len == 0 || d.len % 16 != 0) return false;
    const uint32_t entries = d.len / 16;
    if (entries > max_buffers_ || !InRam(d.addr, d.len, kMemorySize)) return false;
    std::set<uint32_t> visited;
    uint32_t index = 0;
    while (true) {
      if (!visited.insert(index).second) return false;
      const vring_desc entry = ReadOrDie<vring_desc>(memory_, d.addr + 16 * index);
      if (entry.flags & VRING_DESC_F_INDIRECT) return false;
      if (!Add(entry)) return false;
      if (!(entry.flags & VRING_DESC_F_NEXT)) return true;
      if (entry.next >= entries) return false;
      index = entry.next;
    }
  }

  bool Add(const vring_desc& d) {
    if (!InRam(d.addr, d.len, kMemorySize)) return false;
    const bool writable = d.flags & VRING_DESC_F_WRITE;
    if (!writable && seen_writable_) return false;
    if (buffers_.size() + 1 > max_buffers_) return false;
    total_ += d.len;
    if (total_ > limits_.max_total_length) return false;
    seen_writable_ |= writable;
    buffers_.push_back(ChainBuffer{GuestAddress(d.addr), d.len, writable});
    return true;
  }

  const GuestMemory& memory_;
  const VirtqueueState& state_;
  const ChainLimits& limits_;
  const uint64_t max_buffers_;
  std::vector<ChainBuffer> buffers_;
  uint64_t total_ = 0;
  bool seen_writable_ = false;
};

class Harness {
 public:
  Harness(GuestMemory& memory, Virtqueue queue, uint16_t start, const ChainLimits& limits)
      : memory_(memory), queue_(std::move(queue)), limits_(limits), driver_idx_(start),
        start_(start) {}

  const VirtqueueState& state() const { return queue_.state(); }
  uint16_t size() const { return queue_.state().size; }

  uint64_t Avail(uint64_t offset) const { return state().available_ring.value() + offset; }
  uint64_t Used(uint64_t offset) const { return state().used_ring.value() + offset; }

  void Write16(uint64_t address, uint16_t value) {
    FUZZ_CHECK(memory_.Write<uint16_t>(GuestAddress(address), value).ok(), "driver write");
  }

  // The driver's side (2.7.13).
  void MakeAvailable(uint16_t head) {
    Write16(Avail(virtio::AvailEntryOffset(driver_idx_ % size())), head);
    MoveAvailIdx(1);
  }
  void MoveAvailIdx(uint16_t delta) {
    driver_idx_ = static_cast<uint16_t>(driver_idx_ + delta);
    Write16(Avail(virtio::kAvailIdxOffset), driver_idx_);
  }
  void SetDriverFields(uint16_t flags, uint16_t used_event) {
    Write16(Avail(virtio::kAvailFlagsOffset), flags);
    Write16(Avail(virtio::UsedEventOffset(size())), used_event);
  }

  // Pops one chain and checks it against the reference; returns false once the queue
  // reported the ring broken (the device would set DEVICE_NEEDS_RESET) or empty.
  bool Pop(uint16_t write_offset, uint16_t write_length, uint8_t pattern) {
    const VirtqueueState before = state();
    const uint16_t size = before.size;
    // What Pop does first with event idx on an empty ring: avail_event = next_avail, then a
    // second look. The model makes the same write to see what Pop will see (a hostile
    // layout may put avail_event on top of avail->idx or a descriptor), keeps the result as
    // the RAM expected after Pop, and puts the old bytes back before calling Pop.
    const std::vector<uint8_t> ram_before = CopyOfRam(memory_);
    uint16_t avail_idx = ReadOrDie<uint16_t>(memory_, Avail(virtio::kAvailIdxOffset));
    uint16_t pending = static_cast<uint16_t>(avail_idx - before.next_avail);
    if (pending == 0 && before.event_idx) {
      Write16(Used(virtio::AvailEventOffset(size)), before.next_avail);
      avail_idx = ReadOrDie<uint16_t>(memory_, Avail(virtio::kAvailIdxOffset));
      pending = static_cast<uint16_t>(avail_idx - before.next_avail);
    }
    bool expect_error = pending > size || (pending != 0 && queue_.in_flight() >= size);
    uint16_t head = 0;
    std::optional<std::vector<ChainBuffer>> expected;
    if (!expect_error && pending != 0) {
      head = ReadOrDie<uint16_t>(memory_,
                                 Avail(virtio::AvailEntryOffset(before.next_avail % size)));
      expected = ReferenceWalk(memory_, before, limits_).Walk(head);
      expect_error = !expected;
    }
    const std::vector<uint8_t> ram_expected = CopyOfRam(memory_);
    FUZZ_CHECK(memory_.WriteBytes(GuestAddress(0), ram_before).ok(), "restoring RAM");

    absl::StatusOr<std::optional<DescriptorChain>> popped = queue_.Pop(memory_, limits_);
    const std::string what = absl::StrFormat("Pop (idx %d, next_avail %d, size %d)", avail_idx,
                                             before.next_avail, size);
    FUZZ_CHECK(CopyOfRam(memory_) == ram_expected,
               what + ": guest memory is not as expected (avail_event, and nothing else)");

    if (expect_error) {
      FUZZ_CHECK(!popped.ok(), what + ": accepted what the driver broke");
      FUZZ_CHECK(popped.status().code() == absl::StatusCode::kInvalidArgument,
                 what + ": " + popped.status().ToString());
      FUZZ_CHECK(state() == before, what + ": an error changed the state");
      return false;
    }
    FUZZ_CHECK(popped.ok(), what + ": refused a good chain: " + popped.status().ToString());
    if (pending == 0) {
      FUZZ_CHECK(!popped->has_value(), what + ": a chain from an empty ring");
      FUZZ_CHECK(state() == before, what + ": an empty pop changed the state");
      return false;
    }
    FUZZ_CHECK(popped->has_value(), what + ": nullopt with chains pending");
    const DescriptorChain& chain = **popped;
    VirtqueueState advanced = before;
    ++advanced.next_avail;
    FUZZ_CHECK(state() == advanced, what + ": the state moved by more than one chain");
    FUZZ_CHECK(chain.head() == head, what + ": wrong head");
    CheckChain(chain, *expected, what);
    CheckCopies(chain, write_offset, write_length, pattern, what);
    held_.push_back(chain);
    FUZZ_CHECK(queue_.in_flight() == held_.size(), what + ": in_flight() is not the chains held");
    return true;
  }

  void AddUsed(size_t which, uint32_t length) {
    const VirtqueueState before = state();
    const std::string what = absl::StrFormat("AddUsed (next_used %d)", before.next_used);
    // Heads beyond the queue and returns of nothing are refused and change nothing.
    const absl::Status beyond = queue_.AddUsed(memory_, before.size, 0);
    FUZZ_CHECK(beyond.code() == absl::StatusCode::kInvalidArgument, what + ": " + beyond.ToString());
    if (held_.empty()) {
      const absl::Status none = queue_.AddUsed(memory_, 0, 0);
      FUZZ_CHECK(none.code() == absl::StatusCode::kFailedPrecondition,
                 what + ": nothing in flight: " + none.ToString());
      FUZZ_CHECK(state() == before, what + ": a refused AddUsed changed the state");
      return;
    }
    FUZZ_CHECK(state() == before, what + ": a refused AddUsed changed the state");
    const DescriptorChain chain = held_[which % held_.size()];
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(which % held_.size()));
    std::vector<uint8_t> expected_ram = CopyOfRam(memory_);
    const uint64_t element = Used(virtio::UsedElementOffset(before.next_used % before.size));
    const vring_used_elem written = {chain.head(), length};
    std::memcpy(&expected_ram[element], &written, sizeof(written));
    const uint16_t next = static_cast<uint16_t>(before.next_used + 1);
    std::memcpy(&expected_ram[Used(virtio::kUsedIdxOffset)], &next, sizeof(next));

    const absl::Status status = queue_.AddUsed(memory_, chain.head(), length);
    FUZZ_CHECK(status.ok(), what + ": " + status.ToString());
    FUZZ_CHECK(CopyOfRam(memory_) == expected_ram,
               what + ": used ring not {head, len} then idx + 1, or other bytes changed");
    ++added_;
    VirtqueueState advanced = before;
    advanced.next_used = next;
    FUZZ_CHECK(state() == advanced, what + ": the state moved by more than one element");
    FUZZ_CHECK(queue_.in_flight() == held_.size(), what + ": in_flight() is not the chains held");
  }

  void NeedsInterrupt() {
    const VirtqueueState before = state();
    bool expected = false;
    if (before.signalled_used != before.next_used) {
      if (before.event_idx) {
        // 2.7.7.2: notify when one of the used indices written since the last decision
        // equals used_event.
        const uint16_t used_event =
            ReadOrDie<uint16_t>(memory_, Avail(virtio::UsedEventOffset(before.size)));
        for (uint16_t i = before.signalled_used; i != before.next_used; ++i) {
          if (i == used_event) expected = true;
        }
      } else {
        const uint16_t flags = ReadOrDie<uint16_t>(memory_, Avail(virtio::kAvailFlagsOffset));
        expected = !(flags & VRING_AVAIL_F_NO_INTERRUPT);
      }
    }
    absl::StatusOr<bool> wanted = queue_.NeedsInterrupt(memory_);
    FUZZ_CHECK(wanted.ok(), wanted.status().ToString());
    FUZZ_CHECK(*wanted == expected,
               absl::StrFormat("NeedsInterrupt (used %d -> %d, event idx %d) said %d", before.signalled_used,
                               before.next_used, before.event_idx, *wanted));
    VirtqueueState advanced = before;
    advanced.signalled_used = before.next_used;
    FUZZ_CHECK(state() == advanced, "NeedsInterrupt changed more than signalled_used");
  }

  void Snapshot() {
    const VirtqueueState saved = state();
    absl::StatusOr<Virtqueue> restored = Virtqueue::Restore(queue_.max_size(), saved, memory_);
    FUZZ_CHECK(restored.ok(), "restoring a live queue's state: " + restored.status().ToString());
    FUZZ_CHECK(restored->state() == saved, "the restored state differs");
    queue_ = *std::move(restored);
  }

  // The end of every input: return what is held, then pop and return until the ring is
  // empty or broken.
  void Drain() {
    while (!held_.empty()) {
      AddUsed(0, 0);
      NeedsInterrupt();
    }
    for (uint32_t i = 0; i <= size(); ++i) {
      if (!Pop(0, 0, 0)) break;
      AddUsed(0, held_.front().writable_length());
      NeedsInterrupt();
    }
  }

  void CheckCommon() {
    FUZZ_CHECK(state().next_used == static_cast<uint16_t>(start_ + added_),
               "next_used moved by something other than the elements added");
    FUZZ_CHECK(queue_.in_flight() == held_.size(), "in_flight() is not the chains held");
  }

  size_t held() const { return held_.size(); }
  uint32_t held_writable_length(size_t which) const {
    return held_[which % held_.size()].writable_length();
  }

 private:
  void CheckChain(const DescriptorChain& chain, const std::vector<ChainBuffer>& expected,
                  const std::string& what) {
    FUZZ_CHECK(std::equal(chain.buffers().begin(), chain.buffers().end(), expected.begin(),
                          expected.end()),
               absl::StrFormat("%s: %d buffers, the reference has %d (or they differ)", what,
                               chain.buffers().size(), expected.size()));
    uint64_t readable = 0, writable = 0;
    for (const ChainBuffer& buffer : chain.readable()) {
      FUZZ_CHECK(!buffer.writable, what + ": a writable buffer among the readable ones");
      readable += buffer.length;
    }
    for (const ChainBuffer& buffer : chain.writable()) {
      FUZZ_CHECK(buffer.writable, what + ": a readable buffer among the writable ones");
      writable += buffer.length;
    }
    for (const ChainBuffer& buffer : chain.buffers()) {
      FUZZ_CHECK(InRam(buffer.address.value(), buffer.length, kMemorySize),
                 what + ": a buffer outside RAM");
    }
    FUZZ_CHECK(chain.readable().size() + chain.writable().size() == chain.buffers().size(),
               what + ": readable + writable is not every buffer");
    FUZZ_CHECK(readable == chain.readable_length() && writable == chain.writable_length(),
               what + ": lengths");
    FUZZ_CHECK(readable + writable <= limits_.max_total_length, what + ": over the length limit");
    FUZZ_CHECK(chain.buffers().size() <= std::min<uint64_t>(limits_.max_buffers, size()),
               what + ": over the buffer limit");
  }

  // The copy helpers read exactly the readable buffers and write exactly the writable ones.
  void CheckCopies(const DescriptorChain& chain, uint16_t write_offset, uint16_t write_length,
                   uint8_t pattern, const std::string& what) {
    // Reads: everything, when small; otherwise the last kMaxNearLength bytes. The model
    // reads the buffers' bytes in [offset, readable_length) one buffer at a time.
    const uint64_t length = std::min<uint64_t>(chain.readable_length(), kMaxNearLength);
    const uint64_t offset = chain.readable_length() - length;
    std::vector<uint8_t> expected;
    uint64_t position = 0;
    for (const ChainBuffer& buffer : chain.readable()) {
      const uint64_t begin = position, end = position + buffer.length;
      position = end;
      for (uint64_t p = std::max(begin, offset); p < end; ++p) {
        expected.push_back(ReadOrDie<uint8_t>(memory_, buffer.address.value() + (p - begin)));
      }
    }
    FUZZ_CHECK(expected.size() == length, what + ": the model's readable bytes");
    std::vector<uint8_t> got(length);
    FUZZ_CHECK(chain.ReadFromReadable(memory_, offset, absl::MakeSpan(got)).ok(),
               what + ": ReadFromReadable inside the readable part failed");
    FUZZ_CHECK(got == expected,
               what + ": ReadFromReadable returned other bytes than the readable buffers hold");
    std::vector<uint8_t> one_more(length + 1);
    FUZZ_CHECK(chain.ReadFromReadable(memory_, offset, absl::MakeSpan(one_more)).code() ==
                   absl::StatusCode::kOutOfRange,
               what + ": ReadFromReadable beyond the readable part");

    // Writes: the model applies them to a copy of RAM, buffer by buffer.
    const uint64_t at = std::min<uint64_t>(write_offset, chain.writable_length());
    const uint64_t count = std::min<uint64_t>(write_length, chain.writable_length() - at);
    std::vector<uint8_t> bytes(count);
    for (uint64_t i = 0; i < count; ++i) bytes[i] = static_cast<uint8_t>(pattern + i);
    std::vector<uint8_t> expected_ram = CopyOfRam(memory_);
    uint64_t skip = at, next = 0;
    for (const ChainBuffer& buffer : chain.writable()) {
      if (skip >= buffer.length) {  // wholly before the offset
        skip -= buffer.length;
        continue;
      }
      for (uint64_t i = skip; i < buffer.length && next < count; ++i) {
        expected_ram[buffer.address.value() + i] = bytes[next++];
      }
      skip = 0;
    }
    FUZZ_CHECK(chain.WriteToWritable(memory_, at, bytes).ok(),
               what + ": WriteToWritable inside the writable part failed");
    FUZZ_CHECK(CopyOfRam(memory_) == expected_ram,
               what + ": WriteToWritable wrote other bytes than the writable buffers'");
    // As many bytes plus one, placed to end one byte beyond the writable part.
    bytes.push_back(0);
    FUZZ_CHECK(chain.WriteToWritable(memory_, chain.writable_length() - count, bytes).code() ==
                   absl::StatusCode::kOutOfRange,
               what + ": WriteToWritable beyond the writable part");
    FUZZ_CHECK(CopyOfRam(memory_) == expected_ram, what + ": a refused write wrote");
  }

  GuestMemory& memory_;
  Virtqueue queue_;
  const ChainLimits limits_;
  uint16_t driver_idx_;
  const uint16_t start_;
  uint16_t added_ = 0;
  std::vector<DescriptorChain> held_;
};

}  // namespace

void FuzzOneInput(FuzzedDataProvider& provider) {
  GuestMemory& memory = *ClearedGuestMemory(kMemorySize);

  const uint16_t max_size = provider.ConsumeIntegralInRange<uint16_t>(1, virtio::kMaxQueueSize);
  const uint16_t queue_size = provider.ConsumeBool() ? provider.ConsumeIntegral<uint16_t>()
                                                     : ConsumeQueueSize(provider, kMaxSizeLog2);
  const GuestAddress table(ConsumeAddress(provider, kNear));
  const GuestAddress avail(ConsumeAddress(provider, kNear));
  const GuestAddress used(ConsumeAddress(provider, kNear));
  const uint8_t features = provider.ConsumeIntegralInRange<uint8_t>(0, 3);
  const uint16_t start = provider.ConsumeIntegral<uint16_t>();
  virtio::ChainLimits limits;
  if (!provider.ConsumeBool()) {
    limits.max_total_length = provider.ConsumeIntegralInRange<uint32_t>(0, kMaxLimitLength);
  }
  limits.max_buffers = provider.ConsumeIntegralInRange<uint32_t>(0, kMaxLimitBuffers);

  absl::StatusOr<virtio::Virtqueue> created = virtio::Virtqueue::Create(max_size);
  FUZZ_CHECK(created.ok(), created.status().ToString());
  virtio::Virtqueue queue = *std::move(created);
  FUZZ_CHECK(queue.SetSize(queue_size).ok() && queue.SetDescriptorTable(table).ok() &&
                 queue.SetAvailableRing(avail).ok() && queue.SetUsedRing(used).ok() &&
                 queue.SetFeatures(((features & 1) ? virtio::kFeatureEventIdx : 0) |
                                   ((features & 2) ? virtio::kFeatureIndirectDesc : 0))
                     .ok(),
             "configuring a queue that is not ready");
  const bool valid = ValidQueueLayout(queue.state(), max_size, kMemorySize);
  const absl::Status ready = queue.SetReady(memory);
  FUZZ_CHECK(ready.ok() == valid,
             absl::StrFormat("SetReady(size %d of %d, rings %#x %#x %#x): %s", queue_size, max_size,
                             table.value(), avail.value(), used.value(), ready.ToString()));
  if (!ready.ok()) {
    FUZZ_CHECK(ready.code() == absl::StatusCode::kInvalidArgument, ready.ToString());
    FUZZ_CHECK(queue.Pop(memory).status().code() == absl::StatusCode::kFailedPrecondition,
               "Pop on a queue that is not ready");
    FUZZ_CHECK(queue.AddUsed(memory, 0, 0).code() == absl::StatusCode::kFailedPrecondition,
               "AddUsed on a queue that is not ready");
    return;
  }

  // Start where a restored queue would: both indices at `start`, in the rings too.
  virtio::VirtqueueState state = queue.state();
  state.next_avail = state.next_used = state.signalled_used = start;
  absl::StatusOr<virtio::Virtqueue> restored =
      virtio::Virtqueue::Restore(max_size, state, memory);
  FUZZ_CHECK(restored.ok(), restored.status().ToString());
  Harness harness(memory, *std::move(restored), start, limits);
  harness.Write16(harness.Avail(virtio::kAvailIdxOffset), start);
  harness.Write16(harness.Used(virtio::kUsedIdxOffset), start);

  for (int i = 0; i < kMaxOperations && provider.remaining_bytes() > 0; ++i) {
    const uint8_t op = provider.ConsumeIntegralInRange<uint8_t>(0, kLastOp);
    switch (op) {
      case kSetDescriptor: {
        const uint16_t index = provider.ConsumeIntegralInRange<uint16_t>(0, queue_size - 1);
        const vring_desc d = ConsumeDescriptor(provider, kNear, queue_size);
        FUZZ_CHECK(memory.Write(table.UncheckedAdd(16 * uint64_t{index}), d).ok(), "descriptor");
        break;
      }
      case kWriteDescriptorAt: {
        const uint16_t offset = provider.ConsumeIntegralInRange<uint16_t>(0, kMemorySize - 16);
        const vring_desc d = ConsumeDescriptor(provider, kNear, queue_size);
        FUZZ_CHECK(memory.Write(GuestAddress(offset), d).ok(), "descriptor");
        break;
      }
      case kMakeAvailable:
        harness.MakeAvailable(provider.ConsumeIntegralInRange<uint16_t>(0, queue_size));
        break;
      case kMoveAvailIdx:
        harness.MoveAvailIdx(provider.ConsumeIntegral<uint16_t>());
        break;
      case kSetDriverFields: {
        const uint16_t flags = provider.ConsumeIntegral<uint16_t>();
        harness.SetDriverFields(flags, provider.ConsumeIntegral<uint16_t>());
        break;
      }
      case kPop: {
        const uint16_t offset = provider.ConsumeIntegralInRange<uint16_t>(0, kMaxWriteBytes);
        const uint16_t length = provider.ConsumeIntegralInRange<uint16_t>(0, kMaxWriteBytes);
        harness.Pop(offset, length, provider.ConsumeIntegral<uint8_t>());
        break;
      }
      case kAddUsed: {
        if (harness.held() == 0) {
          harness.AddUsed(0, 0);
          break;
        }
        const uint8_t which = provider.ConsumeIntegral<uint8_t>();
        harness.AddUsed(which, provider.ConsumeIntegralInRange<uint32_t>(
                                   0, harness.held_writable_length(which)));
        harness.NeedsInterrupt();
        break;
      }
      case kNeedsInterrupt:
        harness.NeedsInterrupt();
        break;
      case kSnapshot:
        harness.Snapshot();
        break;
      case kPatch: {
        const uint16_t offset = provider.ConsumeIntegral<uint16_t>();
        const uint8_t count = provider.ConsumeIntegralInRange<uint8_t>(0, kMaxPatchBytes);
        std::vector<uint8_t> bytes = provider.ConsumeBytes<uint8_t>(count);
        bytes.resize(std::min<size_t>(bytes.size(), kMemorySize - offset));
        FUZZ_CHECK(memory.WriteBytes(GuestAddress(offset), bytes).ok(), "patch");
        break;
      }
    }
    harness.CheckCommon();
  }
  harness.Drain();
  harness.CheckCommon();
}

}  // namespace vmmd::fuzz
