// NetDevice over a real tap, as the daemon wires them (the device on a duplicate of the tap's
// fd, the offload setter bound to Tap::SetOffload): what the unit tests' socketpair cannot
// show, that the kernel's tap and the device agree on the 12-byte header both ways, that
// num_buffers is the device's to set (tun leaves those two bytes alone), and that the guest's
// features reach the interface's offloads. In the test's own network namespace
// (block-network), where it may create taps.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/net/tap.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {
namespace {

using testing::kAvailableRing;
using testing::kData;
using testing::kDescriptorTable;
using testing::kMemorySize;
using testing::kUsedRing;
using testing::TestDriver;

constexpr uint16_t kSize = 16;
constexpr GuestAddress kTxTable{0x4000};
constexpr GuestAddress kTxAvail{0x5000};
constexpr GuestAddress kTxUsed{0x6000};
constexpr uint64_t kRxBuffers = kData.value();  // kSize buffers of 0x1000 bytes
constexpr uint64_t kTxData = 0x80000;
constexpr uint16_t kEtherType = 0x88b5;  // local experimental: nothing else sends it
constexpr MacAddress kMac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

using Bytes = std::vector<uint8_t>;

Bytes Frame(const std::string& payload) {
  Bytes frame(6, 0xff);
  for (uint8_t b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x07}) frame.push_back(b);
  frame.push_back(kEtherType >> 8);
  frame.push_back(kEtherType & 0xff);
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

bool OurEtherType(const uint8_t* frame) {
  return frame[12] == (kEtherType >> 8) && frame[13] == (kEtherType & 0xff);
}

class NetDeviceTapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(Tap tap, Tap::Open(absl::StrCat("vmn", getpid())));
    tap_ = std::make_shared<Tap>(std::move(tap));
    ASSERT_OK_AND_ASSIGN(UniqueFd data_fd, tap_->Duplicate());
    ASSERT_OK_AND_ASSIGN(device_, NetDevice::Create(std::move(data_fd), kMac,
                                                    [tap = tap_](unsigned flags) {
                                                      return tap->SetOffload(flags);
                                                    }));
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    rx_.emplace(*memory_, kSize);
    tx_.emplace(*memory_, kSize, kTxTable, kTxAvail, kTxUsed);
    for (auto [queue, table, avail, used] :
         {std::tuple(&rx_queue_, kDescriptorTable, kAvailableRing, kUsedRing),
          std::tuple(&tx_queue_, kTxTable, kTxAvail, kTxUsed)}) {
      ASSERT_OK_AND_ASSIGN(Virtqueue q, Virtqueue::Create(NetDevice::kQueueSize));
      ASSERT_OK(q.SetSize(kSize));
      ASSERT_OK(q.SetDescriptorTable(table));
      ASSERT_OK(q.SetAvailableRing(avail));
      ASSERT_OK(q.SetUsedRing(used));
      ASSERT_OK(q.SetFeatures(kFeatureIndirectDesc));
      ASSERT_OK(q.SetReady(*memory_));
      queue->emplace(std::move(q));
    }

    // The host side: the interface up, and a packet socket on it for our Ethertype.
    UniqueFd control(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(control.valid()) << strerror(errno);
    ifreq request{};
    std::strncpy(request.ifr_name, tap_->name().c_str(), IFNAMSIZ - 1);
    ASSERT_EQ(ioctl(control.get(), SIOCGIFFLAGS, &request), 0) << strerror(errno);
    request.ifr_flags |= IFF_UP;
    ASSERT_EQ(ioctl(control.get(), SIOCSIFFLAGS, &request), 0) << strerror(errno);
    packet_.Reset(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(kEtherType)));
    ASSERT_TRUE(packet_.valid()) << strerror(errno);
    address_.sll_family = AF_PACKET;
    address_.sll_protocol = htons(kEtherType);
    address_.sll_ifindex = static_cast<int>(if_nametoindex(tap_->name().c_str()));
    ASSERT_NE(address_.sll_ifindex, 0);
    ASSERT_EQ(bind(packet_.get(), reinterpret_cast<sockaddr*>(&address_), sizeof(address_)), 0)
        << strerror(errno);
  }

  uint32_t EthtoolValue(uint32_t command) {
    UniqueFd control(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ethtool_value value{};
    value.cmd = command;
    ifreq request{};
    std::strncpy(request.ifr_name, tap_->name().c_str(), IFNAMSIZ - 1);
    request.ifr_data = reinterpret_cast<char*>(&value);
    EXPECT_EQ(ioctl(control.get(), SIOCETHTOOL, &request), 0) << strerror(errno);
    return value.data;
  }

  std::shared_ptr<Tap> tap_;
  std::unique_ptr<NetDevice> device_;
  std::optional<GuestMemory> memory_;
  std::optional<TestDriver> rx_, tx_;
  std::optional<Virtqueue> rx_queue_, tx_queue_;
  UniqueFd packet_;
  sockaddr_ll address_{};
};

TEST_F(NetDeviceTapTest, TheGuestsFeaturesBecomeTheTapsOffloads) {
  EXPECT_EQ(EthtoolValue(ETHTOOL_GTSO), 0u);
  device_->Activate(kFeatureVersion1 | NetFeature(VIRTIO_NET_F_GUEST_CSUM) |
                    NetFeature(VIRTIO_NET_F_GUEST_TSO4) | NetFeature(VIRTIO_NET_F_GUEST_TSO6));
  EXPECT_EQ(EthtoolValue(ETHTOOL_GTSO), 0u) << "set in Activate, a vCPU thread";
  ASSERT_OK(device_->ProcessQueue(1, *tx_queue_, *memory_));
  EXPECT_EQ(EthtoolValue(ETHTOOL_GTSO), 1u);
  EXPECT_EQ(EthtoolValue(ETHTOOL_GTXCSUM), 1u);
  EXPECT_EQ(device_->counters().errors, 0u);
  // A driver without checksum offload, after a reset: the tap's offloads go off again.
  device_->Reset();
  device_->Activate(kFeatureVersion1);
  ASSERT_OK(device_->ProcessQueue(0, *rx_queue_, *memory_));
  EXPECT_EQ(EthtoolValue(ETHTOOL_GTXCSUM), 0u);
  EXPECT_EQ(EthtoolValue(ETHTOOL_GTSO), 0u);
}

TEST_F(NetDeviceTapTest, FramesGoBothWaysThroughTheTap) {
  device_->Activate(kFeatureVersion1 | NetFeature(VIRTIO_NET_F_MRG_RXBUF));
  // Guest to host.
  const Bytes out_frame = Frame("from the guest through vmmd");
  Bytes out(kNetHeaderSize, 0);
  out.insert(out.end(), out_frame.begin(), out_frame.end());
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kTxData), out));
  tx_->SetDescriptor(0, kTxData, static_cast<uint32_t>(out.size()));
  tx_->MakeAvailable(0);
  ASSERT_OK(device_->ProcessQueue(1, *tx_queue_, *memory_));
  EXPECT_EQ(device_->counters().packets_sent, 1u);
  std::optional<Bytes> got;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  Bytes buffer(2048);
  while (!got && absl::Now() < deadline) {
    pollfd p{packet_.get(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(packet_.get(), buffer.data(), buffer.size(), 0);
    if (n >= ETH_HLEN && OurEtherType(buffer.data())) got = Bytes(buffer.begin(), buffer.begin() + n);
  }
  EXPECT_EQ(got, out_frame);

  // Host to guest: buffers for whatever the new interface sends too (IPv6 router
  // solicitations, say); ours is found by its Ethertype.
  for (uint16_t i = 0; i < kSize; ++i) {
    ASSERT_OK(memory_->Fill(GuestAddress(kRxBuffers + 0x1000 * i), 0xee, 0x1000));
    rx_->SetDescriptor(i, kRxBuffers + 0x1000 * i, 0x1000, VRING_DESC_F_WRITE);
    rx_->MakeAvailable(i);
  }
  const Bytes in_frame = Frame("from the host, to the guest");
  ASSERT_EQ(sendto(packet_.get(), in_frame.data(), in_frame.size(), 0,
                   reinterpret_cast<sockaddr*>(&address_), sizeof(address_)),
            static_cast<ssize_t>(in_frame.size()))
      << strerror(errno);
  std::optional<uint16_t> slot;
  while (!slot && absl::Now() < deadline) {
    ASSERT_OK(device_->ProcessQueue(0, *rx_queue_, *memory_));
    for (uint16_t i = 0; i < rx_->UsedIdx() && !slot; ++i) {
      const vring_used_elem used = rx_->UsedElement(i);
      Bytes packet(used.len);
      ASSERT_OK(memory_->ReadBytes(GuestAddress(kRxBuffers + 0x1000 * used.id),
                                   absl::MakeSpan(packet)));
      if (packet.size() >= kNetHeaderSize + ETH_HLEN && OurEtherType(&packet[kNetHeaderSize])) {
        slot = i;
        EXPECT_EQ(Bytes(packet.begin() + kNetHeaderSize, packet.end()), in_frame);
        virtio_net_hdr_v1 header;
        std::memcpy(&header, packet.data(), sizeof(header));
        // tun skips these two bytes of the device's read buffer: the device must set them.
        EXPECT_EQ(header.num_buffers, 1);
        EXPECT_EQ(header.gso_type, VIRTIO_NET_HDR_GSO_NONE);
        EXPECT_EQ(header.flags, 0);
      }
    }
    if (!slot) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(slot.has_value()) << "the frame never reached the guest";
  EXPECT_EQ(device_->counters().drops, 0u);
}

}  // namespace
}  // namespace vmmd::virtio
