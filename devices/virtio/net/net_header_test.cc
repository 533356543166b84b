#include "devices/virtio/net/net_header.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace vmmd::virtio {
namespace {

constexpr uint64_t kCsum = NetFeature(VIRTIO_NET_F_GUEST_CSUM);
constexpr uint64_t kTso4 = NetFeature(VIRTIO_NET_F_GUEST_TSO4);
constexpr uint64_t kTso6 = NetFeature(VIRTIO_NET_F_GUEST_TSO6);

virtio_net_hdr_v1 Header(uint8_t flags, uint8_t gso_type) {
  virtio_net_hdr_v1 header{};
  header.flags = flags;
  header.gso_type = gso_type;
  return header;
}

TEST(NetHeaderTest, OffersTheFeaturesOfSection5_1_3) {
  // CSUM 0, GUEST_CSUM 1, MAC 5, GUEST_TSO4 7, GUEST_TSO6 8, HOST_TSO4 11, HOST_TSO6 12,
  // MRG_RXBUF 15, STATUS 16, INDIRECT_DESC 28, EVENT_IDX 29.
  const uint64_t expected = (1u << 0) | (1u << 1) | (1u << 5) | (1u << 7) | (1u << 8) |
                            (1u << 11) | (1u << 12) | (1u << 15) | (1u << 16) | (1u << 28) |
                            (1u << 29);
  EXPECT_EQ(kNetOfferedFeatures, expected);
  EXPECT_EQ(kMaxPacketLength, 65562u);
}

TEST(NetHeaderTest, OffloadFlagsFollowTheGuestFeatures) {
  EXPECT_EQ(TapOffloadFlags(0), 0u);
  EXPECT_EQ(TapOffloadFlags(kCsum), static_cast<unsigned>(TUN_F_CSUM));
  EXPECT_EQ(TapOffloadFlags(kCsum | kTso4), static_cast<unsigned>(TUN_F_CSUM | TUN_F_TSO4));
  EXPECT_EQ(TapOffloadFlags(kCsum | kTso4 | kTso6),
            static_cast<unsigned>(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
  // TSO without GUEST_CSUM (which 5.1.3.1 requires) gets nothing; host-side features none.
  EXPECT_EQ(TapOffloadFlags(kTso4 | kTso6), 0u);
  EXPECT_EQ(TapOffloadFlags(kNetOfferedFeatures & ~(kCsum | kTso4 | kTso6)), 0u);
}

TEST(NetHeaderTest, WithoutGuestCsumFlagsAreZeroAndNoGso) {
  virtio_net_hdr_v1 plain = Header(0, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_TRUE(AcceptReceivedHeader(plain, 0));
  // DATA_VALID is cleared, not a reason to drop.
  virtio_net_hdr_v1 valid = Header(VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_TRUE(AcceptReceivedHeader(valid, 0));
  EXPECT_EQ(valid.flags, 0);
  virtio_net_hdr_v1 partial = Header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_FALSE(AcceptReceivedHeader(partial, 0));
  virtio_net_hdr_v1 tso = Header(0, VIRTIO_NET_HDR_GSO_TCPV4);
  EXPECT_FALSE(AcceptReceivedHeader(tso, kTso4));  // TSO4 without GUEST_CSUM
}

TEST(NetHeaderTest, WithGuestCsumTheNegotiatedGsoTypesPass) {
  virtio_net_hdr_v1 partial = Header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_TRUE(AcceptReceivedHeader(partial, kCsum));
  virtio_net_hdr_v1 valid = Header(VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_TRUE(AcceptReceivedHeader(valid, kCsum));
  EXPECT_EQ(valid.flags, VIRTIO_NET_HDR_F_DATA_VALID);
  virtio_net_hdr_v1 tso4 = Header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4);
  EXPECT_FALSE(AcceptReceivedHeader(tso4, kCsum));
  EXPECT_TRUE(AcceptReceivedHeader(tso4, kCsum | kTso4));
  virtio_net_hdr_v1 tso6 = Header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6);
  EXPECT_FALSE(AcceptReceivedHeader(tso6, kCsum | kTso4));
  EXPECT_TRUE(AcceptReceivedHeader(tso6, kCsum | kTso6));
}

TEST(NetHeaderTest, NeverOfferedKindsAreDropped) {
  const uint64_t all = kCsum | kTso4 | kTso6;
  virtio_net_hdr_v1 ufo = Header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP);
  EXPECT_FALSE(AcceptReceivedHeader(ufo, all));
  virtio_net_hdr_v1 ecn =
      Header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
  EXPECT_FALSE(AcceptReceivedHeader(ecn, all));
  virtio_net_hdr_v1 rsc = Header(VIRTIO_NET_HDR_F_RSC_INFO, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_FALSE(AcceptReceivedHeader(rsc, all));
  virtio_net_hdr_v1 unknown = Header(0, 0x42);
  EXPECT_FALSE(AcceptReceivedHeader(unknown, all));
}

}  // namespace
}  // namespace vmmd::virtio
