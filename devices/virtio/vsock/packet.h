// Packets of virtio-vsock (virtio 1.2 section 5.10.6, "Device Operation"): the 44-byte header
// every packet starts with (<linux/virtio_vsock.h>'s struct virtio_vsock_hdr), read from the
// start of a guest's TX chain and built for its RX chains, and the host iovecs over a chain's
// payload, which the device hands straight to readv/writev on the host socket.
//
// Every header field is little-endian (spec 5.10.6); the host is (split_ring.h asserts it),
// so the UAPI struct is read and written as it is.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_PACKET_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_PACKET_H_

#include <linux/virtio_vsock.h>
#include <linux/vm_sockets.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "devices/virtio/descriptor_chain.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio::vsock {

// The host's CID: every packet the guest sends to the host names it as dst_cid, and every
// packet the device sends names it as src_cid (<linux/vm_sockets.h> VMADDR_CID_HOST).
inline constexpr uint64_t kHostCid = VMADDR_CID_HOST;

// struct virtio_vsock_hdr (spec 5.10.6): le64 src_cid, le64 dst_cid, le32 src_port,
// le32 dst_port, le32 len, le16 type, le16 op, le32 flags, le32 buf_alloc, le32 fwd_cnt.
inline constexpr uint32_t kHeaderSize = sizeof(virtio_vsock_hdr);
static_assert(kHeaderSize == 44, "spec 5.10.6: struct virtio_vsock_hdr is 44 bytes");

// The largest payload one packet carries, either way: Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE
// (include/linux/virtio_vsock.h, 64 KiB; a Linux guest never sends more in one packet) and
// Firecracker's MAX_PKT_BUF_SIZE. A TX packet claiming more is refused.
inline constexpr uint32_t kMaxPayload = 64 * 1024;

// One connection's two ends as the device names them: `local_port` on the host (CID 2),
// `peer_port` in the guest. A guest packet's dst_port is the local port and its src_port the
// peer port; the device's packets the other way round.
struct ConnectionKey {
  uint32_t local_port = 0;
  uint32_t peer_port = 0;

  friend bool operator==(const ConnectionKey& a, const ConnectionKey& b) {
    return a.local_port == b.local_port && a.peer_port == b.peer_port;
  }
  friend bool operator!=(const ConnectionKey& a, const ConnectionKey& b) { return !(a == b); }
  friend bool operator<(const ConnectionKey& a, const ConnectionKey& b) {
    return std::tie(a.local_port, a.peer_port) < std::tie(b.local_port, b.peer_port);
  }
};

// The key of the connection a guest packet belongs to.
inline ConnectionKey KeyOf(const virtio_vsock_hdr& guest_header) {
  return ConnectionKey{guest_header.dst_port, guest_header.src_port};
}

// What the sender of a packet tells its peer about its receive buffer (spec 5.10.6.3, "Buffer
// Space Management"): its size, and how many bytes it has taken out of it so far (free-running).
struct Credit {
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;
};

// What the device sends: a packet of connection `key` from the host to guest `guest_cid`,
// of type VIRTIO_VSOCK_TYPE_STREAM (the only type the device speaks).
virtio_vsock_hdr MakeHeader(uint64_t guest_cid, ConnectionKey key, uint16_t op, uint32_t flags,
                            uint32_t len, Credit credit);

// The header at the start of `chain`'s device-readable part (the header may span buffers;
// spec 2.6.4, any layout). OUT_OF_RANGE when the readable part is shorter than kHeaderSize;
// otherwise what DescriptorChain::ReadFromReadable returns.
absl::StatusOr<virtio_vsock_hdr> ReadHeader(const DescriptorChain& chain,
                                            const GuestMemory& memory);

// Whether `header.len` is a payload the chain holds: INVALID_ARGUMENT, naming both, when it is
// above kMaxPayload or runs past the chain's readable part (`readable_length` bytes, header
// included).
absl::Status CheckPayloadLength(const virtio_vsock_hdr& header, uint32_t readable_length);

// The number of bytes `iov` covers.
size_t IovecBytes(absl::Span<const iovec> iov);

}  // namespace vmmd::virtio::vsock

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_PACKET_H_
