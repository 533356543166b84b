#include "devices/virtio/virtqueue.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "devices/virtio/split_ring.h"

namespace vmmd::virtio {
namespace {

// The host location of the naturally aligned 16-bit ring field at `address`, for accesses
// that must be single loads and stores (avail->idx, used->idx and the suppression fields the
// other side writes concurrently). SetReady checked that the rings lie in guest RAM with
// the spec's alignment; the region mappings are page-aligned, so the host pointer is too.
absl::StatusOr<uint16_t*> RingField(const GuestMemory& memory, GuestAddress address) {
  for (const GuestMemoryRegion& region : memory.regions()) {
    if (region.start <= address &&
        address.value() - region.start.value() <= region.size - sizeof(uint16_t)) {
      uint8_t* host = region.host + (address.value() - region.start.value());
      if (reinterpret_cast<uintptr_t>(host) % alignof(uint16_t) != 0) break;
      return reinterpret_cast<uint16_t*>(host);
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "ring field at %#x is not an aligned 16-bit location in guest RAM", address.value()));
}

// Relaxed single loads and stores; the callers place the fences.
absl::StatusOr<uint16_t> LoadRingField(const GuestMemory& memory, GuestAddress address) {
  ASSIGN_OR_RETURN(uint16_t* field, RingField(memory, address));
  return __atomic_load_n(field, __ATOMIC_RELAXED);
}

absl::Status StoreRingField(GuestMemory& memory, GuestAddress address, uint16_t value) {
  ASSIGN_OR_RETURN(uint16_t* field, RingField(memory, address));
  __atomic_store_n(field, value, __ATOMIC_RELAXED);
  return absl::OkStatus();
}

// A ring area: aligned, and inside one region of guest RAM for all of its `length` bytes.
absl::Status CheckArea(const GuestMemory& memory, const char* name, GuestAddress address,
                       uint64_t alignment, uint64_t length, const char* formula) {
  if (address.value() % alignment != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s address %#x is not aligned to %d bytes (virtio 1.2 section 2.7)", name,
        address.value(), alignment));
  }
  if (!address.CheckedAdd(length)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s at %#x + %#x bytes (%s) wraps around the address space", name, address.value(),
        length, formula));
  }
  if (!memory.Contains(address, length)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s [%#x, %#x) (%s bytes) is not inside guest RAM", name, address.value(),
        address.value() + length, formula));
  }
  return absl::OkStatus();
}

}  // namespace

Virtqueue::Virtqueue(uint16_t max_size) : max_size_(max_size) { state_.size = max_size; }

absl::StatusOr<Virtqueue> Virtqueue::Create(uint32_t max_size) {
  if (max_size == 0 || max_size > kMaxQueueSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "maximum queue size %d is not in [1, %d] (virtio 1.2 section 2.7)", max_size,
        kMaxQueueSize));
  }
  return Virtqueue(static_cast<uint16_t>(max_size));
}

absl::StatusOr<Virtqueue> Virtqueue::Restore(uint32_t max_size, const VirtqueueState& state,
                                             const GuestMemory& memory) {
  ASSIGN_OR_RETURN(Virtqueue queue, Create(max_size));
  queue.state_ = state;
  if (state.ready) {
    const absl::Status status = queue.CheckConfiguration(memory);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("restoring a ready queue: %s", status.message()));
    }
    if (queue.in_flight() > state.size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "restoring a ready queue: %d chains in flight (next_avail %d, next_used %d) are more "
          "than the queue size %d",
          queue.in_flight(), state.next_avail, state.next_used, state.size));
    }
  }
  return queue;
}

absl::Status Virtqueue::RequireNotReady(const char* what) const {
  if (state_.ready) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: the queue is ready; reset it first", what));
  }
  return absl::OkStatus();
}

absl::Status Virtqueue::RequireReady(const char* what) const {
  if (!state_.ready) {
    return absl::FailedPreconditionError(absl::StrFormat("%s: the queue is not ready", what));
  }
  return absl::OkStatus();
}

absl::Status Virtqueue::SetSize(uint16_t size) {
  RETURN_IF_ERROR(RequireNotReady("SetSize"));
  state_.size = size;
  return absl::OkStatus();
}

absl::Status Virtqueue::SetDescriptorTable(GuestAddress address) {
  RETURN_IF_ERROR(RequireNotReady("SetDescriptorTable"));
  state_.descriptor_table = address;
  return absl::OkStatus();
}

absl::Status Virtqueue::SetAvailableRing(GuestAddress address) {
  RETURN_IF_ERROR(RequireNotReady("SetAvailableRing"));
  state_.available_ring = address;
  return absl::OkStatus();
}

absl::Status Virtqueue::SetUsedRing(GuestAddress address) {
  RETURN_IF_ERROR(RequireNotReady("SetUsedRing"));
  state_.used_ring = address;
  return absl::OkStatus();
}

absl::Status Virtqueue::SetFeatures(uint64_t negotiated) {
  RETURN_IF_ERROR(RequireNotReady("SetFeatures"));
  state_.event_idx = (negotiated & kFeatureEventIdx) != 0;
  state_.indirect_descriptors = (negotiated & kFeatureIndirectDesc) != 0;
  return absl::OkStatus();
}

absl::Status Virtqueue::CheckConfiguration(const GuestMemory& memory) const {
  const uint16_t size = state_.size;
  // Spec 2.7: "Queue Size value is always a power of 2. The maximum Queue Size value is
  // 32768." (max_size_ <= 32768 by Create.)
  if (size == 0) {
    return absl::InvalidArgumentError(
        "queue size is 0: it must be a power of two from 1 to 32768 (virtio 1.2 section 2.7)");
  }
  if (size > max_size_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "queue size %d is above the device's maximum of %d", size, max_size_));
  }
  if ((size & (size - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "queue size %d is not a power of two (virtio 1.2 section 2.7)", size));
  }
  // Spec 2.7's table (split_ring.h): the full sizes, used_event and avail_event included,
  // whatever was negotiated.
  RETURN_IF_ERROR(CheckArea(memory, "descriptor table", state_.descriptor_table,
                            kDescriptorTableAlignment, DescriptorTableBytes(size),
                            "16 * queue size"));
  RETURN_IF_ERROR(CheckArea(memory, "available ring", state_.available_ring,
                            kAvailableRingAlignment, AvailableRingBytes(size),
                            "6 + 2 * queue size"));
  RETURN_IF_ERROR(CheckArea(memory, "used ring", state_.used_ring, kUsedRingAlignment,
                            UsedRingBytes(size), "6 + 8 * queue size"));
  return absl::OkStatus();
}

absl::Status Virtqueue::SetReady(const GuestMemory& memory) {
  RETURN_IF_ERROR(RequireNotReady("SetReady"));
  RETURN_IF_ERROR(CheckConfiguration(memory));
  state_.ready = true;
  state_.next_avail = 0;
  state_.next_used = 0;
  state_.signalled_used = 0;
  return absl::OkStatus();
}

void Virtqueue::Reset() { *this = Virtqueue(max_size_); }

DescriptorTable Virtqueue::Table() const {
  return DescriptorTable{state_.descriptor_table, state_.size, state_.indirect_descriptors};
}

absl::StatusOr<std::optional<DescriptorChain>> Virtqueue::Pop(GuestMemory& memory,
                                                             const ChainLimits& limits) {
  RETURN_IF_ERROR(RequireReady("Pop"));
  const uint16_t size = state_.size;
  // The offsets below are at most 6 + 8 * 32768 and the areas were checked by SetReady.
  const GuestAddress avail_idx_address = state_.available_ring.UncheckedAdd(kAvailIdxOffset);
  ASSIGN_OR_RETURN(uint16_t avail_idx, LoadRingField(memory, avail_idx_address));
  // Spec 2.7.13: the driver fills the ring entries and descriptors, a barrier, then idx.
  // Ours pairs with it: nothing below is read before idx.
  std::atomic_thread_fence(std::memory_order_acquire);
  uint16_t pending = static_cast<uint16_t>(avail_idx - state_.next_avail);
  if (pending == 0 && state_.event_idx) {
    // 2.7.10: ask for a notification when the driver writes entry next_avail, then look
    // again: a buffer made available before the driver could see avail_event brings no
    // notification. The full fence orders our store before the load (the driver, in
    // 2.7.13.4.1, does the same between its idx store and its avail_event load).
    RETURN_IF_ERROR(StoreRingField(
        memory, state_.used_ring.UncheckedAdd(AvailEventOffset(size)),
        state_.next_avail));
    std::atomic_thread_fence(std::memory_order_seq_cst);
    ASSIGN_OR_RETURN(avail_idx, LoadRingField(memory, avail_idx_address));
    std::atomic_thread_fence(std::memory_order_acquire);
    pending = static_cast<uint16_t>(avail_idx - state_.next_avail);
  }
  // The ring has `size` entries (2.7.13: it cannot overflow), so idx never runs further
  // ahead of what the device has consumed.
  if (pending > size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "available ring idx %d is %d entries past the next one to pop (%d), more than the "
        "queue size %d",
        avail_idx, pending, state_.next_avail, size));
  }
  if (pending == 0) return std::nullopt;
  // Each chain in flight holds at least one of the table's `size` descriptors until it is
  // used, so a driver cannot have more than `size` chains outstanding.
  if (in_flight() >= size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the driver made a chain available while all %d of the queue's chains are in flight",
        size));
  }
  const uint16_t slot = state_.next_avail % size;
  ASSIGN_OR_RETURN(const uint16_t head,
                   memory.Read<uint16_t>(state_.available_ring.UncheckedAdd(AvailEntryOffset(slot))));
  if (head >= size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "available ring entry %d (slot %d): head index %d is beyond the queue size %d",
        state_.next_avail, slot, head, size));
  }
  absl::StatusOr<DescriptorChain> chain = DescriptorChain::Walk(memory, Table(), head, limits);
  if (!chain.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "available ring entry %d (head %d): %s", state_.next_avail, head,
        chain.status().message()));
  }
  ++state_.next_avail;
  return std::optional<DescriptorChain>(*std::move(chain));
}

absl::Status Virtqueue::AddUsed(GuestMemory& memory, uint16_t head, uint32_t written_length) {
  const UsedElement element = {head, written_length};
  return AddUsedBatch(memory, absl::MakeConstSpan(&element, 1));
}

absl::Status Virtqueue::AddUsedBatch(GuestMemory& memory, absl::Span<const UsedElement> elements) {
  RETURN_IF_ERROR(RequireReady("AddUsed"));
  const uint16_t size = state_.size;
  for (const UsedElement& element : elements) {
    if (element.head >= size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "AddUsed: head index %d is beyond the queue size %d", element.head, size));
    }
  }
  if (elements.size() > in_flight()) {
    const uint16_t first = elements[0].head;
    return absl::FailedPreconditionError(
        in_flight() == 0 ? absl::StrFormat("AddUsed(head %d): no chain is in flight", first)
                         : absl::StrFormat("AddUsed(head %d): %d chains returned, %d in flight",
                                           first, elements.size(), in_flight()));
  }
  if (elements.empty()) return absl::OkStatus();
  uint16_t next = state_.next_used;
  for (const UsedElement& element : elements) {
    vring_used_elem used;
    used.id = element.head;
    used.len = element.written_length;
    RETURN_IF_ERROR(memory.Write(state_.used_ring.UncheckedAdd(UsedElementOffset(next % size)), used));
    ++next;
  }
  // Spec 2.7.8.2: the elements (and the bytes written to the buffers) before used->idx.
  std::atomic_thread_fence(std::memory_order_release);
  RETURN_IF_ERROR(StoreRingField(memory, state_.used_ring.UncheckedAdd(kUsedIdxOffset), next));
  state_.next_used = next;
  return absl::OkStatus();
}

absl::StatusOr<bool> Virtqueue::NeedsInterrupt(const GuestMemory& memory) {
  RETURN_IF_ERROR(RequireReady("NeedsInterrupt"));
  const uint16_t old_used = state_.signalled_used;
  const uint16_t new_used = state_.next_used;
  if (old_used == new_used) return false;
  // The used->idx store before the loads of flags / used_event, which the driver writes
  // before it re-reads used->idx: otherwise both sides can miss each other's update.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool wanted = false;
  if (state_.event_idx) {
    // 2.7.7.2: the device "MUST ignore the lower bit of flags", and notifies when used->idx
    // passed used_event (the field after ring[size]) since the last notification decision.
    ASSIGN_OR_RETURN(const uint16_t used_event,
                     LoadRingField(memory, state_.available_ring.UncheckedAdd(UsedEventOffset(state_.size))));
    wanted = vring_need_event(used_event, new_used, old_used) != 0;
  } else {
    ASSIGN_OR_RETURN(const uint16_t flags,
                     LoadRingField(memory, state_.available_ring.UncheckedAdd(kAvailFlagsOffset)));
    wanted = (flags & VRING_AVAIL_F_NO_INTERRUPT) == 0;
  }
  state_.signalled_used = new_used;
  return wanted;
}

}  // namespace vmmd::virtio
