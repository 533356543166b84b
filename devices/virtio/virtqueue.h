// Virtqueue: the device side of one split virtqueue (virtio 1.2 section 2.7, "Split
// Virtqueues"), for the virtio-mmio transport and the devices behind it.
//
// The transport writes the queue's configuration (size, ring addresses, negotiated features)
// while the queue is not ready, then makes it ready, which checks the configuration against
// the spec and guest RAM. A device then pops descriptor chains from the available ring (each
// walked and checked once: descriptor_chain.h), returns them through the used ring, and asks
// whether the driver wants an interrupt for them.
//
// All the queue's state is a plain VirtqueueState that can be read out and rebuilt from
// (Restore), so snapshots save it and nothing else. The rings themselves live in guest memory,
// which every call is handed: the queue keeps no pointer to it.
//
// Not thread-safe: one queue is driven by one thread at a time (the VM's event loop); the
// driver runs concurrently in the guest, and the ring accesses carry the fences the spec asks
// for (2.7.13 "Supplying Buffers to The Device", 2.7.7 and 2.7.10 on notification suppression).
#ifndef VMMD_DEVICES_VIRTIO_VIRTQUEUE_H_
#define VMMD_DEVICES_VIRTIO_VIRTQUEUE_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "devices/virtio/descriptor_chain.h"
#include "kvm/guest_address.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {

// Feature bits this layer acts on (spec 6, "Reserved Feature Bits"; <linux/virtio_ring.h>'s
// VIRTIO_RING_F_INDIRECT_DESC and VIRTIO_RING_F_EVENT_IDX).
inline constexpr uint64_t kFeatureIndirectDesc = uint64_t{1} << 28;  // VIRTIO_F_INDIRECT_DESC
inline constexpr uint64_t kFeatureEventIdx = uint64_t{1} << 29;      // VIRTIO_F_EVENT_IDX

// Everything a virtqueue is: what the transport configured, and how far the device got.
// A snapshot saves this; Virtqueue::Restore builds the same queue from it.
struct VirtqueueState {
  // Queue Size chosen by the driver (virtio-mmio QueueNum). Starts at the device's maximum.
  uint16_t size = 0;
  // Made ready (virtio-mmio QueueReady) and checked; only a ready queue moves buffers.
  bool ready = false;
  // The three areas (spec 2.7): Descriptor Area, Driver Area, Device Area.
  GuestAddress descriptor_table;
  GuestAddress available_ring;
  GuestAddress used_ring;
  // Negotiated features (kFeatureEventIdx, kFeatureIndirectDesc).
  bool event_idx = false;
  bool indirect_descriptors = false;
  // Free-running index (mod 2^16) of the next available ring entry the device will pop.
  uint16_t next_avail = 0;
  // Free-running used->idx: where the next used element goes, and what was last published.
  uint16_t next_used = 0;
  // next_used when NeedsInterrupt last answered: the "old" of the event-idx test (2.7.7.2).
  uint16_t signalled_used = 0;

  friend bool operator==(const VirtqueueState& a, const VirtqueueState& b) {
    return a.size == b.size && a.ready == b.ready && a.descriptor_table == b.descriptor_table &&
           a.available_ring == b.available_ring && a.used_ring == b.used_ring &&
           a.event_idx == b.event_idx && a.indirect_descriptors == b.indirect_descriptors &&
           a.next_avail == b.next_avail && a.next_used == b.next_used &&
           a.signalled_used == b.signalled_used;
  }
  friend bool operator!=(const VirtqueueState& a, const VirtqueueState& b) { return !(a == b); }
};

class Virtqueue {
 public:
  // A queue whose device offers at most `max_size` entries (virtio-mmio QueueNumMax), not
  // ready, with size() == max_size. INVALID_ARGUMENT unless 1 <= max_size <= 32768 (spec 2.7).
  static absl::StatusOr<Virtqueue> Create(uint32_t max_size);

  // The queue `state` describes, on a device offering `max_size` entries. A ready state is
  // checked as SetReady checks it, and may not have more chains in flight (popped, not yet
  // used) than its size. INVALID_ARGUMENT for a bad max_size or state.
  static absl::StatusOr<Virtqueue> Restore(uint32_t max_size, const VirtqueueState& state,
                                           const GuestMemory& memory);

  const VirtqueueState& state() const { return state_; }
  uint16_t max_size() const { return max_size_; }
  bool ready() const { return state_.ready; }
  // Chains popped and not yet returned through AddUsed.
  uint16_t in_flight() const { return static_cast<uint16_t>(state_.next_avail - state_.next_used); }

  // --- Configuration, by the transport. FAILED_PRECONDITION while the queue is ready; the
  // values are checked by SetReady.
  absl::Status SetSize(uint16_t size);
  absl::Status SetDescriptorTable(GuestAddress address);
  absl::Status SetAvailableRing(GuestAddress address);
  absl::Status SetUsedRing(GuestAddress address);
  // The features the driver accepted (FEATURES_OK): only the kFeature* bits matter here.
  absl::Status SetFeatures(uint64_t negotiated);

  // Checks the configuration and makes the queue ready, with next_avail = next_used = 0.
  // INVALID_ARGUMENT, naming the field and its limit, when the size is 0, not a power of two
  // or above max_size(), or when a ring is misaligned (descriptor table 16, available ring 2,
  // used ring 4 bytes) or not inside one region of guest RAM for its full size (16 * size,
  // 6 + 2 * size, 6 + 8 * size bytes; spec 2.7's table). FAILED_PRECONDITION if already ready.
  // Nothing is written to guest memory: the driver initialised the rings (2.7.10.1).
  absl::Status SetReady(const GuestMemory& memory);

  // Back to Create's state (device reset, or the driver disabling the queue).
  void Reset();

  // --- The data path. FAILED_PRECONDITION on a queue that is not ready.

  // The next available descriptor chain, walked and checked, or nullopt when the driver has
  // made none available. Reads avail->idx, then an acquire fence, then the ring entry and the
  // descriptors. With VIRTIO_F_EVENT_IDX, finding the ring empty sets avail_event to
  // next_avail (the driver notifies at its next buffer, 2.7.10) and looks once more, so a
  // device that pops until nullopt never misses a notification; without it, used->flags stay
  // as the driver initialised them (0: always notify).
  //
  // INVALID_ARGUMENT when the driver broke the ring: avail->idx moved more than size() past
  // next_avail, more than size() chains would be in flight, the head index is not below the
  // size, or the chain is bad (DescriptorChain::Walk's errors, with `limits`). Then nothing
  // is consumed and the same call fails again: the device must set DEVICE_NEEDS_RESET (spec
  // 2.1.2) and leave the queue alone until the driver resets it.
  absl::StatusOr<std::optional<DescriptorChain>> Pop(GuestMemory& memory,
                                                     const ChainLimits& limits = {});

  // Returns the chain whose head is `head` to the driver with `written_length` bytes written
  // to its device-writable part (spec 2.7.8): writes the used element, a release fence, then
  // used->idx + 1. The device must have written those bytes first (2.7.8.2), and must not
  // claim more than the chain's writable_length(). INVALID_ARGUMENT if head >= size();
  // FAILED_PRECONDITION if no chain is in flight.
  absl::Status AddUsed(GuestMemory& memory, uint16_t head, uint32_t written_length);

  // Several chains returned at once, in order, with one used->idx store: a driver that reads
  // a group of used elements together (virtio-net's mergeable receive buffers: one packet,
  // num_buffers chains) never sees part of it. The same checks as AddUsed, for every element
  // before anything is written: INVALID_ARGUMENT for a head >= size(), FAILED_PRECONDITION
  // for more elements than chains in flight.
  struct UsedElement {
    uint16_t head;
    uint32_t written_length;
  };
  absl::Status AddUsedBatch(GuestMemory& memory, absl::Span<const UsedElement> elements);

  // Whether the driver wants a used buffer notification (an interrupt) for the elements
  // added since the previous call; false when none were. Without VIRTIO_F_EVENT_IDX: unless
  // avail->flags has VRING_AVAIL_F_NO_INTERRUPT. With it: when used->idx passed used_event,
  // vring_need_event(used_event, new, old) (2.7.7.2). A full fence orders the used->idx
  // store before these reads.
  absl::StatusOr<bool> NeedsInterrupt(const GuestMemory& memory);

 private:
  explicit Virtqueue(uint16_t max_size);

  absl::Status RequireNotReady(const char* what) const;
  absl::Status RequireReady(const char* what) const;
  // SetReady's checks, on state_.
  absl::Status CheckConfiguration(const GuestMemory& memory) const;
  DescriptorTable Table() const;

  uint16_t max_size_;
  VirtqueueState state_;
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_VIRTQUEUE_H_
