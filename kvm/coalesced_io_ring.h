// CoalescedIoRing: KVM's ring of coalesced writes (KVM_CAP_COALESCED_MMIO / _PIO).
//
// A guest write to a zone registered with Vm::RegisterCoalescedPio does not exit to the VMM:
// KVM appends {address, length, data} to this one-page ring, shared by all vCPUs of the VM,
// and the vCPU goes straight back to the guest. Only when the ring is full (169 entries; 85
// on kernels before 6.12, whose room check wrapped) does the write exit as usual. So the VMM must replay the ring before it handles any exit (and now and
// then, for a vCPU that stops exiting), or devices would see the guest's accesses out of
// order. KVM is the producer; Drain is the one consumer, so callers serialise it.
#ifndef VMMD_KVM_COALESCED_IO_RING_H_
#define VMMD_KVM_COALESCED_IO_RING_H_

#include <cstddef>
#include <cstdint>
#include <memory>

struct kvm_coalesced_mmio;  // <linux/kvm.h>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd {

class Vcpu;

class CoalescedIoRing {
 public:
  // Maps the ring page through `vcpu`'s fd (any vCPU of the VM: there is one ring per VM).
  // `page_offset` is what KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO) answered.
  static absl::StatusOr<std::unique_ptr<CoalescedIoRing>> Map(const Vcpu& vcpu, int page_offset);

  // Over a page the caller owns, laid out as the kernel's (for tests of the consumer side).
  CoalescedIoRing(void* page, size_t page_size, bool owned);
  ~CoalescedIoRing();  // unmaps an owned page
  CoalescedIoRing(const CoalescedIoRing&) = delete;
  CoalescedIoRing& operator=(const CoalescedIoRing&) = delete;

  struct Write {
    uint64_t address;  // port number for port I/O
    bool pio;
    absl::Span<const uint8_t> data;  // 1 to 8 bytes
  };

  // Whether KVM has queued nothing. Lock-free: cheap enough for every exit.
  bool Empty() const;

  // Hands each queued write to `replay`, oldest first, freeing its slot after the call.
  // Returns how many. Entries the kernel could not have written (an index or length out of
  // range) end the drain: the ring is then reset to empty rather than trusted.
  size_t Drain(absl::FunctionRef<void(const Write&)> replay);

  // Slots in the ring (KVM_COALESCED_MMIO_MAX); KVM keeps one free, so it queues at most one
  // fewer before a write exits as usual.
  size_t capacity() const { return capacity_; }

 private:
  struct Header;  // {first, last}: first is ours (consumer), last is KVM's (producer)
  Header* header() const;
  kvm_coalesced_mmio* entries() const;

  void* page_;
  size_t page_size_;
  bool owned_;
  size_t capacity_;
};

}  // namespace vmmd

#endif  // VMMD_KVM_COALESCED_IO_RING_H_
