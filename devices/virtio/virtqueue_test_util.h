// TestDriver: the driver's side of a split virtqueue for tests, written straight into
// GuestMemory the way a guest's virtio driver lays things out (virtio 1.2 section 2.7):
// descriptors, available ring entries and idx, suppression fields; and readers of what the
// device published in the used ring.
#ifndef VMMD_DEVICES_VIRTIO_VIRTQUEUE_TEST_UTIL_H_
#define VMMD_DEVICES_VIRTIO_VIRTQUEUE_TEST_UTIL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "devices/virtio/split_ring.h"
#include "gtest/gtest.h"
#include "kvm/guest_address.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio::testing {

// A layout for tests: room for queues of up to 256 entries, buffers from kData.
inline constexpr GuestAddress kDescriptorTable{0x1000};  // 16 * 256 bytes
inline constexpr GuestAddress kAvailableRing{0x2000};    // 6 + 2 * 256 bytes
inline constexpr GuestAddress kUsedRing{0x3000};         // 6 + 8 * 256 bytes
inline constexpr GuestAddress kIndirectTables{0x8000};
inline constexpr GuestAddress kData{0x10000};
inline constexpr uint64_t kMemorySize = 0x100000;  // 1 MiB

inline void ExpectOk(const absl::Status& status) { EXPECT_TRUE(status.ok()) << status; }

inline vring_desc Descriptor(uint64_t addr, uint32_t len, uint16_t flags = 0, uint16_t next = 0) {
  vring_desc descriptor;
  descriptor.addr = addr;
  descriptor.len = len;
  descriptor.flags = flags;
  descriptor.next = next;
  return descriptor;
}

class TestDriver {
 public:
  TestDriver(GuestMemory& memory, uint16_t size, GuestAddress table = kDescriptorTable,
             GuestAddress avail = kAvailableRing, GuestAddress used = kUsedRing)
      : memory_(memory), size_(size), table_(table), avail_(avail), used_(used) {}

  // Descriptor `index` of the queue's table.
  void SetDescriptor(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags = 0,
                     uint16_t next = 0) {
    ExpectOk(memory_.Write(table_.UncheckedAdd(16 * uint64_t{index}),
                           Descriptor(addr, len, flags, next)));
  }
  // Entry `index` of an indirect table at `table`.
  void SetIndirect(GuestAddress table, uint16_t index, uint64_t addr, uint32_t len,
                   uint16_t flags = 0, uint16_t next = 0) {
    ExpectOk(memory_.Write(table.UncheckedAdd(16 * uint64_t{index}),
                           Descriptor(addr, len, flags, next)));
  }

  // ring[idx % size] = head, then idx + 1 (spec 2.7.13.2, 2.7.13.3).
  void MakeAvailable(uint16_t head) {
    ExpectOk(memory_.Write<uint16_t>(avail_.UncheckedAdd(4 + 2 * (avail_idx_ % size_)), head));
    SetAvailIdx(static_cast<uint16_t>(avail_idx_ + 1));
  }
  void SetAvailIdx(uint16_t idx) {
    avail_idx_ = idx;
    ExpectOk(memory_.Write<uint16_t>(avail_.UncheckedAdd(2), idx));
  }
  uint16_t avail_idx() const { return avail_idx_; }
  void SetAvailFlags(uint16_t flags) { ExpectOk(memory_.Write<uint16_t>(avail_, flags)); }
  void SetUsedEvent(uint16_t event) {
    ExpectOk(memory_.Write<uint16_t>(avail_.UncheckedAdd(4 + 2 * uint64_t{size_}), event));
  }

  uint16_t UsedIdx() const { return Read<uint16_t>(used_.UncheckedAdd(2)); }
  uint16_t UsedFlags() const { return Read<uint16_t>(used_); }
  vring_used_elem UsedElement(uint16_t slot) const {
    return Read<vring_used_elem>(used_.UncheckedAdd(4 + 8 * uint64_t{slot}));
  }
  uint16_t AvailEvent() const {
    return Read<uint16_t>(used_.UncheckedAdd(4 + 8 * uint64_t{size_}));
  }

 private:
  template <typename T>
  T Read(GuestAddress address) const {
    absl::StatusOr<T> value = memory_.Read<T>(address);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : T{};
  }

  GuestMemory& memory_;
  const uint16_t size_;
  const GuestAddress table_, avail_, used_;
  uint16_t avail_idx_ = 0;
};

}  // namespace vmmd::virtio::testing

#endif  // VMMD_DEVICES_VIRTIO_VIRTQUEUE_TEST_UTIL_H_
