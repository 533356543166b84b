// What virtio-net's data path agrees on with its guest and its backend (virtio 1.2 section
// 5.1): the feature bits vmmd offers, the header that starts every packet, the largest
// packet, and which received headers a guest may be given for the features it accepted.
//
// Every packet, both ways and on the backend (a tap with IFF_VNET_HDR and a 12-byte vnet
// header size, or a test's socketpair), is a struct virtio_net_hdr_v1 then an Ethernet frame.
// With VIRTIO_F_VERSION_1 the header always has num_buffers, so it is 12 bytes whether or not
// VIRTIO_NET_F_MRG_RXBUF is negotiated (5.1.6, "Device Operation").
#ifndef VMMD_DEVICES_VIRTIO_NET_NET_HEADER_H_
#define VMMD_DEVICES_VIRTIO_NET_NET_HEADER_H_

#include <linux/if_ether.h>
#include <linux/if_tun.h>
// <linux/virtio_net.h> names a field `class` (struct virtio_net_ctrl_hdr, the control
// queue's, unused here), which C++ cannot parse: renamed for the include. Include this
// header rather than that one.
#define class class_
#include <linux/virtio_net.h>
#undef class

#include <cstddef>
#include <cstdint>

#include "devices/virtio/virtqueue.h"

namespace vmmd::virtio {

// struct virtio_net_hdr_v1 (5.1.6): u8 flags, u8 gso_type, le16 hdr_len, le16 gso_size,
// le16 csum_start, le16 csum_offset, le16 num_buffers. Little-endian, as the host is
// (split_ring.h asserts it).
inline constexpr size_t kNetHeaderSize = sizeof(virtio_net_hdr_v1);
static_assert(kNetHeaderSize == 12 && offsetof(virtio_net_hdr_v1, num_buffers) == 10,
              "spec 5.1.6: struct virtio_net_hdr");

// The largest Ethernet frame either way: a 64 KiB GSO packet (Linux's GSO_MAX_SIZE, 65536)
// after a 14-byte Ethernet header. With the header, 65562 bytes: the receive buffer size spec
// 5.1.6.3.1 asks of a driver that accepts GUEST_TSO4/TSO6 without MRG_RXBUF, and
// Firecracker's MAX_BUFFER_SIZE.
inline constexpr size_t kMaxFrameLength = 65536 + ETH_HLEN;
inline constexpr size_t kMaxPacketLength = kNetHeaderSize + kMaxFrameLength;
static_assert(kMaxPacketLength == 65562, "spec 5.1.6.3.1's 65562-byte receive buffers");

constexpr uint64_t NetFeature(int bit) { return uint64_t{1} << bit; }

// What NetDevice offers (5.1.3): checksum and TCP segmentation offload both ways, a MAC
// address and a link status in the configuration space, mergeable receive buffers; and the
// ring features it serves. No control queue, no multiqueue, no UFO or ECN.
inline constexpr uint64_t kNetOfferedFeatures =
    NetFeature(VIRTIO_NET_F_CSUM) | NetFeature(VIRTIO_NET_F_GUEST_CSUM) |
    NetFeature(VIRTIO_NET_F_MAC) | NetFeature(VIRTIO_NET_F_GUEST_TSO4) |
    NetFeature(VIRTIO_NET_F_GUEST_TSO6) | NetFeature(VIRTIO_NET_F_HOST_TSO4) |
    NetFeature(VIRTIO_NET_F_HOST_TSO6) | NetFeature(VIRTIO_NET_F_MRG_RXBUF) |
    NetFeature(VIRTIO_NET_F_STATUS) | kFeatureEventIdx | kFeatureIndirectDesc;

// The checksum and segmentation offload features (5.1.3): those offered above, and the UFO
// and ECN ones, which are not. A NetDevice created with them withheld (vmmd
// --virtio_net_offloads=false, to measure what they buy) offers none of them: the guest
// checksums and segments what it sends, the tap gets no offload flags, and so the host's
// kernel checksums and segments what it hands us.
inline constexpr uint64_t kNetOffloadFeatures =
    NetFeature(VIRTIO_NET_F_CSUM) | NetFeature(VIRTIO_NET_F_GUEST_CSUM) |
    NetFeature(VIRTIO_NET_F_GUEST_TSO4) | NetFeature(VIRTIO_NET_F_GUEST_TSO6) |
    NetFeature(VIRTIO_NET_F_GUEST_ECN) | NetFeature(VIRTIO_NET_F_GUEST_UFO) |
    NetFeature(VIRTIO_NET_F_HOST_TSO4) | NetFeature(VIRTIO_NET_F_HOST_TSO6) |
    NetFeature(VIRTIO_NET_F_HOST_ECN) | NetFeature(VIRTIO_NET_F_HOST_UFO);

// The TUNSETOFFLOAD flags (<linux/if_tun.h>) for what the guest accepted: the tap may hand
// us a packet with a partial checksum (TUN_F_CSUM) only if the guest takes GUEST_CSUM, and
// TSO packets only if it takes GUEST_TSO4 / GUEST_TSO6 as well (5.1.3.1: the TSO features
// require GUEST_CSUM; the kernel ignores TSO flags without TUN_F_CSUM likewise).
constexpr unsigned TapOffloadFlags(uint64_t negotiated) {
  if ((negotiated & NetFeature(VIRTIO_NET_F_GUEST_CSUM)) == 0) return 0;
  unsigned flags = TUN_F_CSUM;
  if (negotiated & NetFeature(VIRTIO_NET_F_GUEST_TSO4)) flags |= TUN_F_TSO4;
  if (negotiated & NetFeature(VIRTIO_NET_F_GUEST_TSO6)) flags |= TUN_F_TSO6;
  return flags;
}

// Checks a header the backend handed us against what the guest accepted, and clears what it
// may not see; false when the packet must be dropped instead. Spec 5.1.6.4.1: the device sets
// NEEDS_CSUM only with GUEST_CSUM, a gso_type only with the matching GUEST_TSO feature, and
// DATA_VALID only with GUEST_CSUM. A tap with vmmd's offloads only hands over what the guest
// took, except DATA_VALID, which tun sets whenever the host validated the checksum (it is
// advice, so it is cleared rather than the packet dropped); anything else (RSC_INFO, ECN,
// UFO, a type unknown here) is dropped.
bool AcceptReceivedHeader(virtio_net_hdr_v1& header, uint64_t negotiated);

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_NET_NET_HEADER_H_
