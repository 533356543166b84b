// DescriptorChain: one descriptor chain of a split virtqueue (virtio 1.2 section 2.7.5, "The
// Virtqueue Descriptor Table"), walked once from its head and checked against guest memory
// and the queue size, then kept as a plain list of buffers.
//
// Descriptors are guest-written and untrusted. The walk reads each descriptor exactly once
// (an indirect table in one read) and checks: every index against the queue size (or the
// indirect table's entry count), every buffer against guest RAM without wrap-around, a hop
// limit so that loops are refused rather than followed, the total length, the number of
// buffers, device-readable buffers before device-writable ones, and the rules for indirect
// tables. Devices then work from buffers() alone and never re-read descriptor memory, so a
// driver rewriting a descriptor after the walk changes nothing (no TOCTOU).
//
// Copyable; holds no pointer into guest memory. Usable without /dev/kvm.
#ifndef VMMD_DEVICES_VIRTIO_DESCRIPTOR_CHAIN_H_
#define VMMD_DEVICES_VIRTIO_DESCRIPTOR_CHAIN_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvm/guest_address.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {

// The largest Queue Size a split virtqueue can have (spec 2.7, "Split Virtqueues": "The
// maximum Queue Size value is 32768").
inline constexpr uint32_t kMaxQueueSize = 32768;

// Where the chain's descriptors live: a virtqueue's descriptor table and what was negotiated.
struct DescriptorTable {
  GuestAddress address;   // the Descriptor Area: `size` entries of 16 bytes
  uint16_t size = 0;      // the Queue Size
  // VIRTIO_F_INDIRECT_DESC (feature bit 28, spec 6 "Reserved Feature Bits") was negotiated.
  // Without it a descriptor with VRING_DESC_F_INDIRECT is an error (spec 2.7.5.3.1).
  bool indirect_allowed = false;
};

// What the device accepts beyond the spec's own bounds.
struct ChainLimits {
  // Sum of all buffer lengths, readable and writable. The spec allows at most 2^32 bytes
  // (2.7.5.2, "Driver Requirements: The Virtqueue Descriptor Table"); a used element's `len`
  // is a le32, so the walk never accepts more than 2^32 - 1 whatever is asked.
  uint32_t max_total_length = std::numeric_limits<uint32_t>::max();
  // Buffers in the chain, direct and indirect together. The queue size bounds this anyway
  // ("A driver MUST NOT create a descriptor chain longer than the Queue Size of the device",
  // 2.7.5.3.1); a device may lower it (e.g. to its seg_max plus header and status).
  uint32_t max_buffers = std::numeric_limits<uint32_t>::max();
};

// One guest buffer of a chain, as its descriptor described it.
struct ChainBuffer {
  GuestAddress address;
  uint32_t length = 0;
  bool writable = false;  // VRING_DESC_F_WRITE: device-writable (otherwise device-readable)

  friend bool operator==(const ChainBuffer& a, const ChainBuffer& b) {
    return a.address == b.address && a.length == b.length && a.writable == b.writable;
  }
  friend bool operator!=(const ChainBuffer& a, const ChainBuffer& b) { return !(a == b); }
};

// A chain's buffers. Most chains have a few (a net or vsock packet: 1-2, a block request:
// 3), kept inline: walking one allocates nothing.
using ChainBuffers = absl::InlinedVector<ChainBuffer, 4>;

class DescriptorChain {
 public:
  // Walks the chain whose head is descriptor `head` of `table`, following VRING_DESC_F_NEXT
  // and at most one indirect table. Accepts zero or more direct descriptors followed by at
  // most one indirect descriptor (2.7.5.3.2), whose table's descriptors continue the chain.
  // INVALID_ARGUMENT, with a message naming the descriptor, when:
  //   - the table's size is 0, `head` or a `next` index is not below the queue size (or, in
  //     an indirect table, below its entry count);
  //   - the chain has more descriptors than the queue size (a loop), or an indirect table's
  //     chain more than its entry count;
  //   - a buffer's address + length wraps or is not inside one region of guest RAM;
  //   - a device-readable buffer follows a device-writable one (2.7.4.2);
  //   - the lengths add up to more than limits.max_total_length, or there are more buffers
  //     than limits.max_buffers or the queue size;
  //   - a descriptor has VRING_DESC_F_INDIRECT while the table does not allow it, or together
  //     with VRING_DESC_F_NEXT, or inside an indirect table (2.7.5.3.1); the indirect table's
  //     length is 0 or not a multiple of 16, it has more entries than the buffer limit, or it
  //     is not inside guest RAM.
  // A descriptor that cannot be read (the table outside guest RAM) is INVALID_ARGUMENT too.
  static absl::StatusOr<DescriptorChain> Walk(const GuestMemory& memory,
                                              const DescriptorTable& table, uint16_t head,
                                              const ChainLimits& limits = {});

  // The head's index: what the used element's `id` names (2.7.8).
  uint16_t head() const { return head_; }
  // Every buffer, device-readable ones first.
  absl::Span<const ChainBuffer> buffers() const { return buffers_; }
  absl::Span<const ChainBuffer> readable() const {
    return absl::MakeConstSpan(buffers_).subspan(0, readable_count_);
  }
  absl::Span<const ChainBuffer> writable() const {
    return absl::MakeConstSpan(buffers_).subspan(readable_count_);
  }
  uint32_t readable_length() const { return readable_length_; }
  uint32_t writable_length() const { return writable_length_; }
  // Whether the chain came (partly) from an indirect table.
  bool indirect() const { return indirect_; }

  // Copies out.size() bytes of the device-readable part, starting `offset` bytes into it
  // (across buffer boundaries). OUT_OF_RANGE if [offset, offset + out.size()) is not inside
  // the readable part; otherwise what GuestMemory::ReadBytes returns.
  absl::Status ReadFromReadable(const GuestMemory& memory, uint64_t offset,
                                absl::Span<uint8_t> out) const;
  // Copies `bytes` into the device-writable part, starting `offset` bytes into it. Never
  // touches a device-readable buffer (2.7.5.1). OUT_OF_RANGE if the range is not inside the
  // writable part; otherwise what GuestMemory::WriteBytes returns.
  absl::Status WriteToWritable(GuestMemory& memory, uint64_t offset,
                               absl::Span<const uint8_t> bytes) const;

 private:
  DescriptorChain() = default;

  uint16_t head_ = 0;
  ChainBuffers buffers_;
  size_t readable_count_ = 0;
  uint32_t readable_length_ = 0;
  uint32_t writable_length_ = 0;
  bool indirect_ = false;
};

// Host iovecs for bytes [offset, offset + length) of `buffers` taken end to end (a chain's
// readable or writable part), appended to `iov`: how devices hand guest buffers to
// preadv/pwritev/writev without a copy. The walk checked each buffer against guest RAM, so
// HostSpan does not fail in practice; if it does, its error comes back. OUT_OF_RANGE when
// the buffers are shorter than offset + length.
absl::Status AppendHostIovecs(GuestMemory& memory, absl::Span<const ChainBuffer> buffers,
                              uint64_t offset, uint64_t length, std::vector<iovec>& iov);

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_DESCRIPTOR_CHAIN_H_
