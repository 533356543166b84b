#include "devices/virtio/vsock/packet.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace vmmd::virtio::vsock {

// Spec 5.10.6's field offsets, checked against the UAPI struct.
static_assert(offsetof(virtio_vsock_hdr, src_cid) == 0 && offsetof(virtio_vsock_hdr, dst_cid) == 8 &&
                  offsetof(virtio_vsock_hdr, src_port) == 16 &&
                  offsetof(virtio_vsock_hdr, dst_port) == 20 &&
                  offsetof(virtio_vsock_hdr, len) == 24 && offsetof(virtio_vsock_hdr, type) == 28 &&
                  offsetof(virtio_vsock_hdr, op) == 30 && offsetof(virtio_vsock_hdr, flags) == 32 &&
                  offsetof(virtio_vsock_hdr, buf_alloc) == 36 &&
                  offsetof(virtio_vsock_hdr, fwd_cnt) == 40,
              "spec 5.10.6: struct virtio_vsock_hdr layout");

virtio_vsock_hdr MakeHeader(uint64_t guest_cid, ConnectionKey key, uint16_t op, uint32_t flags,
                            uint32_t len, Credit credit) {
  virtio_vsock_hdr header;
  std::memset(&header, 0, sizeof(header));
  header.src_cid = kHostCid;
  header.dst_cid = guest_cid;
  header.src_port = key.local_port;
  header.dst_port = key.peer_port;
  header.len = len;
  header.type = VIRTIO_VSOCK_TYPE_STREAM;
  header.op = op;
  header.flags = flags;
  header.buf_alloc = credit.buf_alloc;
  header.fwd_cnt = credit.fwd_cnt;
  return header;
}

absl::StatusOr<virtio_vsock_hdr> ReadHeader(const DescriptorChain& chain,
                                            const GuestMemory& memory) {
  if (chain.readable_length() < kHeaderSize) {
    return absl::OutOfRangeError(absl::StrFormat(
        "vsock packet of %d readable bytes has no %d-byte header", chain.readable_length(),
        kHeaderSize));
  }
  virtio_vsock_hdr header;
  RETURN_IF_ERROR(chain.ReadFromReadable(
      memory, 0, absl::MakeSpan(reinterpret_cast<uint8_t*>(&header), sizeof(header))));
  return header;
}

absl::Status CheckPayloadLength(const virtio_vsock_hdr& header, uint32_t readable_length) {
  const uint32_t len = header.len;
  if (len > kMaxPayload) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vsock packet len %d is above the %d-byte payload limit", len, kMaxPayload));
  }
  // readable_length >= kHeaderSize: ReadHeader succeeded.
  if (readable_length < kHeaderSize || len > readable_length - kHeaderSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vsock packet len %d runs past its chain (%d readable bytes after the header)", len,
        readable_length < kHeaderSize ? 0 : readable_length - kHeaderSize));
  }
  return absl::OkStatus();
}

size_t IovecBytes(absl::Span<const iovec> iov) {
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

}  // namespace vmmd::virtio::vsock
