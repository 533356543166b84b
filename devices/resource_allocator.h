// ResourceAllocator: one per VM. Hands its devices their MMIO windows and IRQ lines (GSIs)
// from the ranges boot/layout.h sets aside (kDeviceMmio*, kDeviceIrq*), lowest first, so the
// same devices added in the same order always get the same windows and lines. What it has
// handed out is a plain value (ResourceAllocatorState) that a snapshot saves and a restore
// puts back.
//
// Not synchronised: the VM's machine assembly (one thread) owns it.
#ifndef VMMD_DEVICES_RESOURCE_ALLOCATOR_H_
#define VMMD_DEVICES_RESOURCE_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmd {

// A guest-physical MMIO window: [base, base + size), page-aligned and a whole number of pages.
struct MmioWindow {
  uint64_t base = 0;
  uint64_t size = 0;

  uint64_t end() const { return base + size; }
  friend bool operator==(const MmioWindow& a, const MmioWindow& b) {
    return a.base == b.base && a.size == b.size;
  }
  friend bool operator!=(const MmioWindow& a, const MmioWindow& b) { return !(a == b); }
};

// Everything a ResourceAllocator has handed out, and all it needs to go on.
struct ResourceAllocatorState {
  std::vector<MmioWindow> mmio_windows;  // by base, ascending
  std::vector<uint32_t> irqs;            // ascending

  friend bool operator==(const ResourceAllocatorState& a, const ResourceAllocatorState& b) {
    return a.mmio_windows == b.mmio_windows && a.irqs == b.irqs;
  }
  friend bool operator!=(const ResourceAllocatorState& a, const ResourceAllocatorState& b) {
    return !(a == b);
  }
};

class ResourceAllocator {
 public:
  // Nothing handed out yet.
  ResourceAllocator() = default;

  // An allocator that has handed out what `state` lists (from state(), of this or another
  // allocator), and goes on from there exactly as that one would. INVALID_ARGUMENT, naming
  // the entry, for a window that is empty, not page-aligned, not whole pages, outside
  // [kDeviceMmioStart, kDeviceMmioEnd) or overlapping another, and for an IRQ line outside
  // the device lines or listed twice.
  static absl::StatusOr<ResourceAllocator> FromState(const ResourceAllocatorState& state);

  // The lowest free window of `size` bytes rounded up to whole pages (kDeviceMmioWindowSize),
  // page-aligned; windows never overlap. INVALID_ARGUMENT for a size of 0;
  // RESOURCE_EXHAUSTED, naming the range and how much of it is in use, when no free stretch
  // of the range is large enough.
  absl::StatusOr<MmioWindow> AllocateMmio(uint64_t size);

  // The lowest free IRQ line among kDeviceIrqFirst..kDeviceIrqLast, less kDeviceIrqsSkipped:
  // 5, 6, 7, 9, 10, 11, 13, ... 23. RESOURCE_EXHAUSTED ("no free IRQ line: 17 in use, lines
  // 5-23, ...") when all are handed out.
  absl::StatusOr<uint32_t> AllocateIrq();

  // What has been handed out, for a snapshot.
  const ResourceAllocatorState& state() const { return state_; }

 private:
  ResourceAllocatorState state_;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_RESOURCE_ALLOCATOR_H_
