// The split virtqueue's guest-visible layout (virtio 1.2 section 2.7), from the kernel's UAPI
// <linux/virtio_ring.h> (struct vring_desc, vring_avail, vring_used, vring_used_elem,
// VRING_DESC_F_*, VRING_AVAIL_F_NO_INTERRUPT, VRING_USED_F_NO_NOTIFY, vring_need_event), and
// the sizes and offsets spec 2.7's table gives, each checked against those structs.
//
// Include this rather than <linux/virtio_ring.h>: the header's legacy vring_init() is C
// only (it converts from void*), so it is left out with VIRTIO_RING_NO_LEGACY.
#ifndef VMMD_DEVICES_VIRTIO_SPLIT_RING_H_
#define VMMD_DEVICES_VIRTIO_SPLIT_RING_H_

#ifndef VIRTIO_RING_NO_LEGACY
#define VIRTIO_RING_NO_LEGACY
#endif
#include <linux/virtio_ring.h>

#include <cstddef>
#include <cstdint>

namespace vmmd::virtio {

// The rings' fields are little-endian (spec 1.4, "Structure Specifications": le16, le32,
// le64); vmmd reads them as host integers.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian");

// struct virtq_desc { le64 addr; le32 len; le16 flags; le16 next; } (2.7.5).
static_assert(sizeof(vring_desc) == 16 && offsetof(vring_desc, len) == 8 &&
                  offsetof(vring_desc, flags) == 12 && offsetof(vring_desc, next) == 14,
              "spec 2.7.5: struct virtq_desc");
// struct virtq_avail { le16 flags; le16 idx; le16 ring[Queue Size]; le16 used_event; } (2.7.6).
static_assert(offsetof(vring_avail, flags) == 0 && offsetof(vring_avail, idx) == 2 &&
                  offsetof(vring_avail, ring) == 4,
              "spec 2.7.6: struct virtq_avail");
// struct virtq_used { le16 flags; le16 idx; struct virtq_used_elem ring[Queue Size];
// le16 avail_event; } and struct virtq_used_elem { le32 id; le32 len; } (2.7.8).
static_assert(offsetof(vring_used, flags) == 0 && offsetof(vring_used, idx) == 2 &&
                  offsetof(vring_used, ring) == 4,
              "spec 2.7.8: struct virtq_used");
static_assert(sizeof(vring_used_elem) == 8 && offsetof(vring_used_elem, len) == 4,
              "spec 2.7.8: struct virtq_used_elem");

inline constexpr uint64_t kDescriptorSize = sizeof(vring_desc);

// Offsets into the available ring (the Driver Area).
inline constexpr uint64_t kAvailFlagsOffset = offsetof(vring_avail, flags);
inline constexpr uint64_t kAvailIdxOffset = offsetof(vring_avail, idx);
inline constexpr uint64_t kAvailRingOffset = offsetof(vring_avail, ring);
inline constexpr uint64_t kAvailEntrySize = sizeof(uint16_t);
constexpr uint64_t AvailEntryOffset(uint64_t slot) { return kAvailRingOffset + kAvailEntrySize * slot; }
// used_event follows ring[Queue Size] (only meaningful with VIRTIO_F_EVENT_IDX).
constexpr uint64_t UsedEventOffset(uint64_t size) { return AvailEntryOffset(size); }

// Offsets into the used ring (the Device Area).
inline constexpr uint64_t kUsedFlagsOffset = offsetof(vring_used, flags);
inline constexpr uint64_t kUsedIdxOffset = offsetof(vring_used, idx);
inline constexpr uint64_t kUsedRingOffset = offsetof(vring_used, ring);
inline constexpr uint64_t kUsedElementSize = sizeof(vring_used_elem);
constexpr uint64_t UsedElementOffset(uint64_t slot) { return kUsedRingOffset + kUsedElementSize * slot; }
// avail_event follows ring[Queue Size] (only meaningful with VIRTIO_F_EVENT_IDX).
constexpr uint64_t AvailEventOffset(uint64_t size) { return UsedElementOffset(size); }

// Spec 2.7's table: each part's alignment and size for a Queue Size of `size`. The sizes
// include used_event and avail_event whether or not VIRTIO_F_EVENT_IDX is negotiated.
inline constexpr uint64_t kDescriptorTableAlignment = VRING_DESC_ALIGN_SIZE;  // 16
inline constexpr uint64_t kAvailableRingAlignment = VRING_AVAIL_ALIGN_SIZE;   // 2
inline constexpr uint64_t kUsedRingAlignment = VRING_USED_ALIGN_SIZE;         // 4
constexpr uint64_t DescriptorTableBytes(uint64_t size) { return 16 * size; }
constexpr uint64_t AvailableRingBytes(uint64_t size) { return 6 + 2 * size; }
constexpr uint64_t UsedRingBytes(uint64_t size) { return 6 + 8 * size; }
static_assert(kDescriptorTableAlignment == 16 && kAvailableRingAlignment == 2 &&
                  kUsedRingAlignment == 4,
              "spec 2.7's alignment column");
static_assert(DescriptorTableBytes(1) == kDescriptorSize &&
                  AvailableRingBytes(7) == UsedEventOffset(7) + sizeof(uint16_t) &&
                  UsedRingBytes(7) == AvailEventOffset(7) + sizeof(uint16_t),
              "spec 2.7's size column agrees with the structs");

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_SPLIT_RING_H_
