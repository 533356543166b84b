#include "devices/virtio/net/net_header.h"

namespace vmmd::virtio {

bool AcceptReceivedHeader(virtio_net_hdr_v1& header, uint64_t negotiated) {
  const bool guest_csum = (negotiated & NetFeature(VIRTIO_NET_F_GUEST_CSUM)) != 0;
  // 5.1.6.4.1: "If VIRTIO_NET_F_GUEST_CSUM is not negotiated, the device MUST set flags to
  // zero": DATA_VALID (advice) goes, a checksum the guest would have to finish cannot.
  if (!guest_csum) header.flags &= static_cast<uint8_t>(~VIRTIO_NET_HDR_F_DATA_VALID);
  const uint8_t known_flags =
      guest_csum ? VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID : 0;
  if ((header.flags & ~known_flags) != 0) return false;
  switch (header.gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE:
      return true;
    case VIRTIO_NET_HDR_GSO_TCPV4:
      // TSO features need GUEST_CSUM (5.1.3.1), which TapOffloadFlags also requires.
      return guest_csum && (negotiated & NetFeature(VIRTIO_NET_F_GUEST_TSO4)) != 0;
    case VIRTIO_NET_HDR_GSO_TCPV6:
      return guest_csum && (negotiated & NetFeature(VIRTIO_NET_F_GUEST_TSO6)) != 0;
    default:  // UFO, ECN and anything unknown: never offered
      return false;
  }
}

}  // namespace vmmd::virtio
