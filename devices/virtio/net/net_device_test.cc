// NetDevice on fake guest memory, with TestDriver as the guest's driver and one end of a
// socketpair(AF_UNIX, SOCK_SEQPACKET) as the backend: the test holds the other end (the
// peer), which sees and sends packets exactly as a tap would (12-byte header, frame).
#include "devices/virtio/net/net_device.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/event_loop.h"
#include "base/mutex.h"
#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using testing::kAvailableRing;
using testing::kData;
using testing::kDescriptorTable;
using testing::kIndirectTables;
using testing::kMemorySize;
using testing::kUsedRing;
using testing::TestDriver;

constexpr uint16_t kSize = 16;
// The transmit queue's rings; the receive queue has TestDriver's defaults.
constexpr GuestAddress kTxTable{0x4000};
constexpr GuestAddress kTxAvail{0x5000};
constexpr GuestAddress kTxUsed{0x6000};
// Receive buffers from kData, transmit packets from kTxData (room for 64 KiB + a bit).
constexpr uint64_t kRxData = kData.value();
constexpr uint64_t kTxData = 0x80000;

constexpr MacAddress kMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr uint64_t kCsum = NetFeature(VIRTIO_NET_F_GUEST_CSUM);
constexpr uint64_t kTso4 = NetFeature(VIRTIO_NET_F_GUEST_TSO4);
constexpr uint64_t kTso6 = NetFeature(VIRTIO_NET_F_GUEST_TSO6);
constexpr uint64_t kMergeable = NetFeature(VIRTIO_NET_F_MRG_RXBUF);

using Bytes = std::vector<uint8_t>;

// A packet as the backend carries it: `header`, then an Ethernet frame of `frame_length`
// bytes (to our MAC, Ethertype IPv4) whose payload follows `seed`, so packets differ.
Bytes Packet(size_t frame_length, uint8_t seed, virtio_net_hdr_v1 header = {}) {
  Bytes packet(kNetHeaderSize + frame_length);
  std::memcpy(packet.data(), &header, sizeof(header));
  uint8_t* frame = packet.data() + kNetHeaderSize;
  for (size_t i = 0; i < frame_length; ++i) frame[i] = static_cast<uint8_t>(seed + i * 7 + i / 251);
  if (frame_length >= ETH_HLEN) {
    std::memcpy(frame, kMac.data(), 6);
    const uint8_t source[6] = {0x02, 0, 0, 0, 0, seed};
    std::memcpy(frame + 6, source, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
  }
  return packet;
}

// What the guest should find: `packet` with num_buffers set.
Bytes WithNumBuffers(Bytes packet, uint16_t num_buffers) {
  std::memcpy(packet.data() + offsetof(virtio_net_hdr_v1, num_buffers), &num_buffers, 2);
  return packet;
}

struct Segment {
  uint64_t address;
  uint32_t length;
  bool writable;
};

// What the offload setter was called with, and on which thread.
struct OffloadCalls {
  Mutex mutex;
  std::vector<unsigned> flags ABSL_GUARDED_BY(mutex);
  std::vector<std::thread::id> threads ABSL_GUARDED_BY(mutex);
  absl::Status result ABSL_GUARDED_BY(mutex);

  std::vector<unsigned> Flags() {
    MutexLock lock(&mutex);
    return flags;
  }
};

class NetDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0)
        << strerror(errno);
    peer_.Reset(fds[1]);
    // Another fd to the device's socket, to see what the device left unread.
    device_side_.Reset(fcntl(fds[0], F_DUPFD_CLOEXEC, 0));
    ASSERT_TRUE(device_side_.valid());
    ASSERT_OK_AND_ASSIGN(device_,
                         NetDevice::Create(UniqueFd(fds[0]), kMac, [calls = calls_](unsigned f) {
                           MutexLock lock(&calls->mutex);
                           calls->flags.push_back(f);
                           calls->threads.push_back(std::this_thread::get_id());
                           return calls->result;
                         }));
    ASSERT_NO_FATAL_FAILURE(ConfigureQueues(kSize));
  }

  // Both queues, `size` entries, over zeroed rings, ready; the ring features the guest took.
  void ConfigureQueues(uint16_t size, uint64_t features = kFeatureIndirectDesc) {
    ASSERT_OK(memory_->Fill(GuestAddress(0), 0, kData.value()));
    rx_.emplace(*memory_, size);
    tx_.emplace(*memory_, size, kTxTable, kTxAvail, kTxUsed);
    ASSERT_OK_AND_ASSIGN(Virtqueue rx, Virtqueue::Create(NetDevice::kQueueSize));
    ASSERT_OK_AND_ASSIGN(Virtqueue tx, Virtqueue::Create(NetDevice::kQueueSize));
    for (auto [queue, table, avail, used] :
         {std::tuple(&rx, kDescriptorTable, kAvailableRing, kUsedRing),
          std::tuple(&tx, kTxTable, kTxAvail, kTxUsed)}) {
      ASSERT_OK(queue->SetSize(size));
      ASSERT_OK(queue->SetDescriptorTable(table));
      ASSERT_OK(queue->SetAvailableRing(avail));
      ASSERT_OK(queue->SetUsedRing(used));
      ASSERT_OK(queue->SetFeatures(features));
      ASSERT_OK(queue->SetReady(*memory_));
    }
    rx_queue_.emplace(std::move(rx));
    tx_queue_.emplace(std::move(tx));
  }

  void Activate(uint64_t features = 0) { device_->Activate(features | kFeatureVersion1); }

  absl::Status Receive() { return device_->ProcessQueue(0, *rx_queue_, *memory_); }
  absl::Status Transmit() { return device_->ProcessQueue(1, *tx_queue_, *memory_); }

  // Descriptors first, first + 1, ... chained in order, then made available.
  void Submit(TestDriver& driver, uint16_t first, const std::vector<Segment>& segments) {
    for (size_t i = 0; i < segments.size(); ++i) {
      uint16_t flags = segments[i].writable ? VRING_DESC_F_WRITE : 0;
      if (i + 1 < segments.size()) flags |= VRING_DESC_F_NEXT;
      driver.SetDescriptor(static_cast<uint16_t>(first + i), segments[i].address,
                           segments[i].length, flags, static_cast<uint16_t>(first + i + 1));
    }
    driver.MakeAvailable(first);
  }
  // One receive buffer of `length` bytes at `address`, as descriptor `index`.
  void PostReceive(uint16_t index, uint64_t address, uint32_t length) {
    Submit(*rx_, index, {{address, length, true}});
  }
  // `packet` written at `address` and made available as descriptors from `first`, cut into
  // pieces of the lengths given (the last takes the rest).
  void SubmitTransmit(uint16_t first, uint64_t address, const Bytes& packet,
                      std::vector<uint32_t> pieces = {}) {
    ASSERT_OK(memory_->WriteBytes(GuestAddress(address), packet));
    std::vector<Segment> segments;
    uint64_t at = 0;
    for (uint32_t piece : pieces) {
      segments.push_back({address + at, piece, false});
      at += piece;
    }
    segments.push_back({address + at, static_cast<uint32_t>(packet.size() - at), false});
    Submit(*tx_, first, segments);
  }

  // Room for a pass's worth of small packets in the socket (net.core.wmem_max allows at
  // least 212992 bytes, doubled: some 550 of them).
  void GrowPeerSendBuffer() {
    const int big = 8 << 20;
    ASSERT_EQ(setsockopt(peer_.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)), 0)
        << strerror(errno);
  }
  void PeerSend(const Bytes& packet) {
    ASSERT_EQ(send(peer_.get(), packet.data(), packet.size(), 0),
              static_cast<ssize_t>(packet.size()))
        << strerror(errno);
  }
  // The next packet the device sent, or nullopt when there is none.
  std::optional<Bytes> PeerReceive() { return ReceiveOn(peer_.get()); }
  static std::optional<Bytes> ReceiveOn(int fd) {
    Bytes buffer(kMaxPacketLength + 16);
    const ssize_t got = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (got < 0) {
      EXPECT_EQ(errno, EAGAIN) << strerror(errno);
      return std::nullopt;
    }
    buffer.resize(static_cast<size_t>(got));
    return buffer;
  }
  // Packets still waiting in the device's socket (read, so gone after this).
  std::vector<Bytes> UnreadByDevice() {
    std::vector<Bytes> left;
    while (std::optional<Bytes> packet = ReceiveOn(device_side_.get())) left.push_back(*packet);
    return left;
  }

  Bytes Guest(uint64_t address, size_t length) {
    Bytes out(length);
    EXPECT_OK(memory_->ReadBytes(GuestAddress(address), absl::MakeSpan(out)));
    return out;
  }

  std::shared_ptr<OffloadCalls> calls_ = std::make_shared<OffloadCalls>();
  std::optional<GuestMemory> memory_;
  UniqueFd peer_;
  UniqueFd device_side_;
  std::unique_ptr<NetDevice> device_;
  std::optional<TestDriver> rx_, tx_;
  std::optional<Virtqueue> rx_queue_, tx_queue_;
};

// --- Identity, configuration, creation ----------------------------------------------------

TEST_F(NetDeviceTest, IsANetDeviceWithAReceiveAndATransmitQueue) {
  EXPECT_EQ(device_->device_id(), 1u);
  EXPECT_EQ(device_->queue_max_sizes(), (std::vector<uint16_t>{256, 256}));
  EXPECT_EQ(device_->offered_features(), kNetOfferedFeatures);
  EXPECT_EQ(device_->mac(), kMac);
}

TEST_F(NetDeviceTest, ConfigSpaceHasTheMacLinkUpAndOnePair) {
  Bytes config(40, 0xaa);
  device_->ReadConfig(0, absl::MakeSpan(config));
  EXPECT_EQ(Bytes(config.begin(), config.begin() + 6), Bytes(kMac.begin(), kMac.end()));
  EXPECT_EQ(config[6], VIRTIO_NET_S_LINK_UP);  // le16 status
  EXPECT_EQ(config[7], 0);
  EXPECT_EQ(config[8], 1);  // le16 max_virtqueue_pairs
  EXPECT_EQ(config[9], 0);
  // mtu, speed, duplex, RSS fields: 0 (not offered); nothing beyond the struct.
  EXPECT_EQ(Bytes(config.begin() + 10, config.end()), Bytes(30, 0));
  // Any offset and length: one byte of the MAC, a read straddling the end, a far one.
  Bytes byte(1, 0xaa);
  device_->ReadConfig(5, absl::MakeSpan(byte));
  EXPECT_EQ(byte[0], 0x56);
  Bytes straddle(4, 0xaa);
  device_->ReadConfig(sizeof(virtio_net_config) - 2, absl::MakeSpan(straddle));
  EXPECT_EQ(straddle, Bytes(4, 0));
  device_->ReadConfig(UINT64_MAX - 1, absl::MakeSpan(straddle));
  EXPECT_EQ(straddle, Bytes(4, 0));
  // Writes change nothing.
  const uint8_t zeros[8] = {};
  device_->WriteConfig(0, zeros);
  Bytes mac(6);
  device_->ReadConfig(0, absl::MakeSpan(mac));
  EXPECT_EQ(mac, Bytes(kMac.begin(), kMac.end()));
}

TEST_F(NetDeviceTest, CreateRefusesABadFdOrMacAndMakesTheBackendNonBlocking) {
  EXPECT_THAT(NetDevice::Create(UniqueFd(), kMac),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not open")));
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd other(fds[1]);
  UniqueFd blocking(fds[0]);
  EXPECT_THAT(NetDevice::Create(UniqueFd(dup(blocking.get())), {0x01, 0, 0, 0, 0, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multicast")));
  EXPECT_THAT(NetDevice::Create(UniqueFd(dup(blocking.get())), {0, 0, 0, 0, 0, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("00:00:00:00:00:00")));
  ASSERT_EQ(fcntl(blocking.get(), F_GETFL) & O_NONBLOCK, 0);
  const int fd = blocking.get();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NetDevice> device,
                       NetDevice::Create(std::move(blocking), kMac));
  EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(NetDeviceTest, WithheldOffloadsLeaveNoChecksumOrSegmentationFeature) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd other_peer(fds[1]);
  std::vector<unsigned> flags;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NetDevice> plain,
                       NetDevice::Create(
                           UniqueFd(fds[0]), kMac,
                           [&flags](unsigned f) {
                             flags.push_back(f);
                             return absl::OkStatus();
                           },
                           NetDevice::Offloads::kWithheld));
  const uint64_t offered = plain->offered_features();
  for (int bit : {VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
                  VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_UFO,
                  VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN,
                  VIRTIO_NET_F_HOST_UFO}) {
    EXPECT_EQ(offered & NetFeature(bit), 0u) << "feature bit " << bit;
  }
  EXPECT_EQ(offered, NetFeature(VIRTIO_NET_F_MAC) | NetFeature(VIRTIO_NET_F_MRG_RXBUF) |
                         NetFeature(VIRTIO_NET_F_STATUS) | kFeatureEventIdx | kFeatureIndirectDesc);
  // The fixture's device, created with the defaults, offers them all.
  EXPECT_EQ(device_->offered_features() & kNetOffloadFeatures,
            kNetOfferedFeatures & kNetOffloadFeatures);
  EXPECT_NE(kNetOfferedFeatures & kNetOffloadFeatures, 0u);

  // A driver takes what is offered: the tap is told to do no offloads.
  plain->Activate(offered | kFeatureVersion1);
  ASSERT_OK(plain->ProcessQueue(1, *tx_queue_, *memory_));
  EXPECT_THAT(flags, ElementsAre(0u));
  // A snapshot of a guest that took an offload cannot come back on this device.
  EXPECT_THAT(plain->Restore(NetDeviceState{kMac, kCsum | kFeatureVersion1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("never offered")));
}

TEST_F(NetDeviceTest, OnlyQueuesZeroAndOneExist) {
  Activate();
  EXPECT_THAT(device_->ProcessQueue(2, *rx_queue_, *memory_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 queues")));
}

// --- Transmit --------------------------------------------------------------------------------

TEST_F(NetDeviceTest, TransmitsAPacketWithItsHeader) {
  Activate(kCsum);
  virtio_net_hdr_v1 header{};
  header.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  header.csum_start = 34;
  header.csum_offset = 16;
  const Bytes packet = Packet(200, 1, header);
  // The header in a descriptor of its own, as Linux's driver lays it out without ANY_LAYOUT.
  SubmitTransmit(0, kTxData, packet, {12});
  ASSERT_OK(Transmit());
  EXPECT_EQ(PeerReceive(), packet);
  EXPECT_EQ(PeerReceive(), std::nullopt);
  ASSERT_EQ(tx_->UsedIdx(), 1);
  EXPECT_EQ(tx_->UsedElement(0).id, 0u);
  EXPECT_EQ(tx_->UsedElement(0).len, 0u);
  const DeviceCounters counters = device_->counters();
  EXPECT_EQ(counters.packets_sent, 1u);
  EXPECT_EQ(counters.bytes_written, 200u);
  EXPECT_EQ(counters.requests, 1u);
  EXPECT_EQ(counters.errors, 0u);
  EXPECT_EQ(counters.drops, 0u);
  EXPECT_EQ(counters.packets_received, 0u);
}

TEST_F(NetDeviceTest, TransmitGathersAnyFramingAndIndirectTables) {
  Activate();
  // Header cut inside, frame in three pieces, through an indirect table.
  const Bytes packet = Packet(1500, 2);
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kTxData), Bytes(packet.begin(), packet.begin() + 5)));
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kTxData + 0x1000),
                                Bytes(packet.begin() + 5, packet.begin() + 700)));
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kTxData + 0x3000),
                                Bytes(packet.begin() + 700, packet.end())));
  const GuestAddress table = kIndirectTables;
  tx_->SetIndirect(table, 0, kTxData, 5, VRING_DESC_F_NEXT, 1);
  tx_->SetIndirect(table, 1, kTxData + 0x1000, 695, VRING_DESC_F_NEXT, 2);
  tx_->SetIndirect(table, 2, kTxData + 0x2000, 0, VRING_DESC_F_NEXT, 3);  // empty, skipped
  tx_->SetIndirect(table, 3, kTxData + 0x3000, static_cast<uint32_t>(packet.size() - 700));
  tx_->SetDescriptor(3, table.value(), 4 * 16, VRING_DESC_F_INDIRECT);
  tx_->MakeAvailable(3);
  ASSERT_OK(Transmit());
  EXPECT_EQ(PeerReceive(), packet);
  ASSERT_EQ(tx_->UsedIdx(), 1);
  EXPECT_EQ(tx_->UsedElement(0).id, 3u);
}

TEST_F(NetDeviceTest, TransmitsTheLargestPacket) {
  Activate();
  const Bytes packet = Packet(kMaxFrameLength, 3);
  ASSERT_EQ(packet.size(), 65562u);
  SubmitTransmit(0, kTxData, packet);
  ASSERT_OK(Transmit());
  EXPECT_EQ(PeerReceive(), packet);
  EXPECT_EQ(device_->counters().drops, 0u);
}

TEST_F(NetDeviceTest, MalformedTransmitChainsAreDroppedCountedAndReturned) {
  Activate();
  // Device-writable buffer after a good packet.
  const Bytes good = Packet(60, 4);
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kTxData), good));
  Submit(*tx_, 0,
         {{kTxData, static_cast<uint32_t>(good.size()), false}, {kTxData + 0x1000, 16, true}});
  // Shorter than the header.
  Submit(*tx_, 2, {{kTxData, 11, false}});
  // One byte longer than the largest packet.
  Submit(*tx_, 3, {{kTxData, 0x8000, false}, {kTxData + 0x8000, 65563 - 0x8000, false}});
  // And a good one after them.
  const Bytes after = Packet(70, 5);
  SubmitTransmit(5, kTxData + 0x20000, after);
  ASSERT_OK(Transmit());
  EXPECT_EQ(PeerReceive(), after);
  EXPECT_EQ(PeerReceive(), std::nullopt);
  ASSERT_EQ(tx_->UsedIdx(), 4);
  const uint16_t heads[] = {0, 2, 3, 5};
  for (uint16_t i = 0; i < 4; ++i) {
    EXPECT_EQ(tx_->UsedElement(i).id, heads[i]);
    EXPECT_EQ(tx_->UsedElement(i).len, 0u);
  }
  const DeviceCounters counters = device_->counters();
  EXPECT_EQ(counters.errors, 3u);
  EXPECT_EQ(counters.drops, 3u);
  EXPECT_EQ(counters.packets_sent, 1u);
  EXPECT_EQ(counters.requests, 4u);
  EXPECT_EQ(counters.bytes_written, 70u);
}

TEST_F(NetDeviceTest, ABrokenTransmitRingIsAnError) {
  Activate();
  tx_->SetAvailIdx(kSize + 1);
  EXPECT_THAT(Transmit(), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(NetDeviceTest, TransmitWaitsWhileTheBackendIsFull) {
  Activate();
  // A small send buffer: the peer holds only a few packets unread.
  const int small = 4096;
  ASSERT_EQ(setsockopt(device_side_.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  constexpr int kPackets = 12;
  std::vector<Bytes> packets;
  for (int i = 0; i < kPackets; ++i) {
    packets.push_back(Packet(1500, static_cast<uint8_t>(i)));
    SubmitTransmit(static_cast<uint16_t>(i), kTxData + 0x1000 * i, packets.back());
  }
  ASSERT_OK(Transmit());
  const uint16_t sent = tx_->UsedIdx();
  ASSERT_GT(sent, 0);
  ASSERT_LT(sent, kPackets) << "the send buffer took every packet: the test shows nothing";
  // The chain that met EAGAIN waits unused; nothing was dropped.
  EXPECT_EQ(tx_queue_->in_flight(), 1);
  EXPECT_EQ(device_->counters().drops, 0u);
  // Another pass while still full changes nothing.
  ASSERT_OK(Transmit());
  EXPECT_EQ(tx_->UsedIdx(), sent);
  // The peer reads; the next pass sends the rest, in order.
  std::vector<Bytes> received;
  while (std::optional<Bytes> packet = PeerReceive()) received.push_back(*packet);
  while (tx_->UsedIdx() < kPackets) {
    const uint16_t before = tx_->UsedIdx();
    ASSERT_OK(Transmit());
    ASSERT_GT(tx_->UsedIdx(), before);
    while (std::optional<Bytes> packet = PeerReceive()) received.push_back(*packet);
  }
  EXPECT_EQ(received, packets);
  EXPECT_EQ(device_->counters().packets_sent, static_cast<uint64_t>(kPackets));
  EXPECT_EQ(device_->counters().drops, 0u);
}

TEST_F(NetDeviceTest, APacketTheBackendRefusesIsDropped) {
  Activate();
  // The peer gone: writev fails with EPIPE. (A tap never does; the daemon ignores SIGPIPE,
  // as this test does.)
  signal(SIGPIPE, SIG_IGN);
  peer_.Reset();
  SubmitTransmit(0, kTxData, Packet(60, 6));
  ASSERT_OK(Transmit());
  ASSERT_EQ(tx_->UsedIdx(), 1);
  EXPECT_EQ(device_->counters().drops, 1u);
  EXPECT_EQ(device_->counters().errors, 0u);
  EXPECT_EQ(device_->counters().packets_sent, 0u);
}

// --- Receive ---------------------------------------------------------------------------------

TEST_F(NetDeviceTest, ReceivesAPacketIntoOneBuffer) {
  Activate();
  virtio_net_hdr_v1 header{};
  header.num_buffers = 0xabcd;  // a tap leaves these bytes alone: the device must set them
  const Bytes packet = Packet(100, 7, header);
  PeerSend(packet);
  PostReceive(2, kRxData, 1526);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(rx_->UsedElement(0).id, 2u);
  EXPECT_EQ(rx_->UsedElement(0).len, 112u);
  EXPECT_EQ(Guest(kRxData, 112), WithNumBuffers(packet, 1));
  EXPECT_EQ(Guest(kRxData + 112, 4), Bytes(4, 0));  // nothing past the packet
  const DeviceCounters counters = device_->counters();
  EXPECT_EQ(counters.packets_received, 1u);
  EXPECT_EQ(counters.bytes_read, 100u);
  EXPECT_EQ(counters.requests, 1u);
  EXPECT_EQ(counters.drops, 0u);
}

TEST_F(NetDeviceTest, MergeableBuffersTakeAPacketAcrossChains) {
  Activate(kMergeable);
  for (uint16_t i = 0; i < 4; ++i) PostReceive(i, kRxData + 0x100 * i, 64);
  const Bytes big = Packet(150, 8);  // 162 bytes: 64 + 64 + 34
  const Bytes small = Packet(20, 9);
  PeerSend(big);
  PeerSend(small);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 4);
  EXPECT_EQ(rx_->UsedElement(0).len, 64u);
  EXPECT_EQ(rx_->UsedElement(1).len, 64u);
  EXPECT_EQ(rx_->UsedElement(2).len, 34u);
  EXPECT_EQ(rx_->UsedElement(3).len, 32u);
  for (uint16_t i = 0; i < 4; ++i) EXPECT_EQ(rx_->UsedElement(i).id, i);
  const Bytes expected = WithNumBuffers(big, 3);
  Bytes got = Guest(kRxData, 64);
  const Bytes second = Guest(kRxData + 0x100, 64);
  const Bytes third = Guest(kRxData + 0x200, 34);
  got.insert(got.end(), second.begin(), second.end());
  got.insert(got.end(), third.begin(), third.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(Guest(kRxData + 0x300, 32), WithNumBuffers(small, 1));
  EXPECT_EQ(device_->counters().packets_received, 2u);
  EXPECT_EQ(device_->counters().requests, 4u);
}

TEST_F(NetDeviceTest, ChainsWithRoomForTheLargestPacketTakeItStraightInAndSplitItsHeader) {
  ASSERT_NO_FATAL_FAILURE(ConfigureQueues(32));
  Activate(kMergeable);
  // Twenty chains of a page (80 KiB, the largest packet is 65562 bytes); the first splits
  // the header it will carry, 6 bytes then the rest of its page.
  Submit(*rx_, 0, {{kRxData, 6, true}, {kRxData + 6, 4090, true}});
  for (uint16_t i = 1; i < 20; ++i) PostReceive(i + 1, kRxData + 0x1000 * i, 4096);
  virtio_net_hdr_v1 valid{};
  valid.flags = VIRTIO_NET_HDR_F_DATA_VALID;  // cleared in place: no GUEST_CSUM
  PeerSend(Packet(kMaxFrameLength, 30, valid));
  const Bytes small = Packet(100, 31);  // three chains left: through the host buffer
  PeerSend(small);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 18);
  Bytes got;
  for (uint16_t k = 0; k < 17; ++k) {
    EXPECT_EQ(rx_->UsedElement(k).id, k == 0 ? 0 : k + 1);
    EXPECT_EQ(rx_->UsedElement(k).len, k < 16 ? 4096u : 26u);
    const Bytes piece = Guest(kRxData + 0x1000 * k, rx_->UsedElement(k).len);
    got.insert(got.end(), piece.begin(), piece.end());
  }
  EXPECT_EQ(got, WithNumBuffers(Packet(kMaxFrameLength, 30), 17));
  EXPECT_EQ(rx_->UsedElement(17).id, 18u);
  EXPECT_EQ(Guest(kRxData + 0x11000, small.size()), WithNumBuffers(small, 1));
  EXPECT_EQ(device_->counters().packets_received, 2u);
  EXPECT_EQ(device_->counters().requests, 18u);
  EXPECT_EQ(device_->counters().drops, 0u);
}

TEST_F(NetDeviceTest, RoomInMoreBuffersThanOneReadvTakesGoesThroughTheHostBuffer) {
  ASSERT_NO_FATAL_FAILURE(ConfigureQueues(256));
  Activate(kMergeable);
  // Nine chains, each an indirect table of 256 buffers of 32 bytes: room for the largest
  // packet only in 2,049 buffers, more than IOV_MAX (1,024) for one readv.
  constexpr uint64_t kTables = 0x40000;
  for (uint16_t chain = 0; chain < 9; ++chain) {
    const GuestAddress table(kTables + 0x1000 * chain);
    for (uint16_t j = 0; j < 256; ++j) {
      const uint16_t flags = VRING_DESC_F_WRITE | (j < 255 ? VRING_DESC_F_NEXT : 0);
      rx_->SetIndirect(table, j, kRxData + 32 * (256 * chain + j), 32, flags,
                       static_cast<uint16_t>(j + 1));
    }
    rx_->SetDescriptor(chain, table.value(), 256 * 16, VRING_DESC_F_INDIRECT);
    rx_->MakeAvailable(chain);
  }
  const Bytes packet = Packet(100, 40);
  PeerSend(packet);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(rx_->UsedElement(0).id, 0u);
  EXPECT_EQ(rx_->UsedElement(0).len, packet.size());
  EXPECT_EQ(Guest(kRxData, packet.size()), WithNumBuffers(packet, 1));
  EXPECT_EQ(device_->counters().errors, 0u);
}

TEST_F(NetDeviceTest, ChainsHeldWithNoPacketToReadServeTheNextOne) {
  ASSERT_NO_FATAL_FAILURE(ConfigureQueues(32));
  Activate(kMergeable);
  for (uint16_t i = 0; i < 20; ++i) PostReceive(i, kRxData + 0x1000 * i, 4096);
  ASSERT_OK(Receive());  // nothing to read: the device holds room for the largest packet
  EXPECT_EQ(rx_->UsedIdx(), 0);
  const Bytes packet = Packet(5000, 32);  // two chains
  PeerSend(packet);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 2);
  EXPECT_EQ(rx_->UsedElement(0).id, 0u);
  EXPECT_EQ(rx_->UsedElement(1).id, 1u);
  EXPECT_EQ(rx_->UsedElement(1).len, packet.size() - 4096);
  EXPECT_EQ(Guest(kRxData, packet.size()), WithNumBuffers(packet, 2));
}

TEST_F(NetDeviceTest, WithoutMergeableBuffersAPacketLargerThanTheChainIsDropped) {
  Activate();
  PostReceive(0, kRxData, 64);
  PeerSend(Packet(100, 10));  // 112 bytes: more than the one chain may take
  const Bytes fits = Packet(40, 11);
  PeerSend(fits);
  ASSERT_OK(Receive());
  // The big one dropped; the chain kept for the next, which fits.
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(rx_->UsedElement(0).id, 0u);
  EXPECT_EQ(rx_->UsedElement(0).len, 52u);
  EXPECT_EQ(Guest(kRxData, 52), WithNumBuffers(fits, 1));
  EXPECT_EQ(device_->counters().drops, 1u);
  EXPECT_EQ(device_->counters().packets_received, 1u);
}

TEST_F(NetDeviceTest, AMergeablePacketLargerThanTheWholeRingIsDropped) {
  ASSERT_NO_FATAL_FAILURE(ConfigureQueues(4));
  Activate(kMergeable);
  for (uint16_t i = 0; i < 4; ++i) PostReceive(i, kRxData + 0x100 * i, 16);
  PeerSend(Packet(100, 12));  // 112 bytes; the ring holds 64
  const Bytes fits = Packet(30, 13);  // 42 bytes: 16 + 16 + 10
  PeerSend(fits);
  ASSERT_OK(Receive());
  EXPECT_EQ(device_->counters().drops, 1u);
  ASSERT_EQ(rx_->UsedIdx(), 3);
  EXPECT_EQ(rx_->UsedElement(2).len, 10u);
  Bytes got = Guest(kRxData, 16);
  for (uint64_t at : {kRxData + 0x100, kRxData + 0x200}) {
    const Bytes piece = Guest(at, at == kRxData + 0x200 ? 10 : 16);
    got.insert(got.end(), piece.begin(), piece.end());
  }
  EXPECT_EQ(got, WithNumBuffers(fits, 3));
}

TEST_F(NetDeviceTest, BackendPacketsTooLongTooShortOrNotNegotiatedAreDropped) {
  Activate();
  PostReceive(0, kRxData, 0x10000 + 64);
  PeerSend(Packet(kMaxFrameLength + 1, 14));   // 65563 bytes
  PeerSend(Packet(ETH_HLEN - 1, 15));          // no whole Ethernet header
  virtio_net_hdr_v1 partial{};
  partial.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;  // without GUEST_CSUM
  PeerSend(Packet(60, 16, partial));
  virtio_net_hdr_v1 valid{};
  valid.flags = VIRTIO_NET_HDR_F_DATA_VALID;  // cleared, delivered
  const Bytes good = Packet(kMaxFrameLength, 17, valid);
  PeerSend(good);
  ASSERT_OK(Receive());
  EXPECT_EQ(device_->counters().drops, 3u);
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(rx_->UsedElement(0).len, 65562u);
  EXPECT_EQ(Guest(kRxData, good.size()), WithNumBuffers(Packet(kMaxFrameLength, 17), 1));
}

TEST_F(NetDeviceTest, AReceivedPacketWaitsForBuffersPostedLater) {
  Activate();
  const Bytes first = Packet(80, 18), second = Packet(90, 19);
  PeerSend(first);
  PeerSend(second);
  ASSERT_OK(Receive());
  EXPECT_EQ(rx_->UsedIdx(), 0);
  ASSERT_OK(Receive());  // again: still nothing, nothing lost
  EXPECT_EQ(device_->counters().drops, 0u);
  // The guest posts buffers and notifies.
  PostReceive(0, kRxData, 1526);
  PostReceive(1, kRxData + 0x1000, 1526);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 2);
  EXPECT_EQ(Guest(kRxData, first.size()), WithNumBuffers(first, 1));
  EXPECT_EQ(Guest(kRxData + 0x1000, second.size()), WithNumBuffers(second, 1));
  EXPECT_EQ(device_->counters().packets_received, 2u);
  EXPECT_EQ(device_->counters().drops, 0u);
}

TEST_F(NetDeviceTest, APeerFloodingAGuestWithoutBuffersIsReadOnlyOnce) {
  Activate(kMergeable);
  std::vector<Bytes> sent;
  for (int i = 0; i < 100; ++i) {
    Bytes packet = Packet(200, static_cast<uint8_t>(i));
    if (send(peer_.get(), packet.data(), packet.size(), 0) < 0) break;
    sent.push_back(std::move(packet));
  }
  ASSERT_GT(sent.size(), 10u);
  for (int pass = 0; pass < 10; ++pass) ASSERT_OK(Receive());
  // The device took the first packet and keeps it; the rest are still the kernel's.
  const std::vector<Bytes> left = UnreadByDevice();
  EXPECT_EQ(left, std::vector<Bytes>(sent.begin() + 1, sent.end()));
  EXPECT_EQ(device_->counters().drops, 0u);
  // The one it kept goes to the guest once there is a buffer.
  PostReceive(0, kRxData, 1526);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(Guest(kRxData, sent[0].size()), WithNumBuffers(sent[0], 1));
}

TEST_F(NetDeviceTest, AReceiveChainShorterThanTheHeaderIsReturnedEmpty) {
  Activate(kMergeable);
  PostReceive(0, kRxData, 8);
  Submit(*rx_, 1, {{kRxData + 0x100, 12, false}});  // nothing writable at all
  PostReceive(2, kRxData + 0x1000, 1526);
  const Bytes packet = Packet(60, 20);
  PeerSend(packet);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 3);
  EXPECT_EQ(rx_->UsedElement(0).id, 0u);
  EXPECT_EQ(rx_->UsedElement(0).len, 0u);
  EXPECT_EQ(rx_->UsedElement(1).id, 1u);
  EXPECT_EQ(rx_->UsedElement(1).len, 0u);
  EXPECT_EQ(rx_->UsedElement(2).id, 2u);
  EXPECT_EQ(rx_->UsedElement(2).len, 72u);
  EXPECT_EQ(Guest(kRxData, 8), Bytes(8, 0));
  EXPECT_EQ(Guest(kRxData + 0x1000, 72), WithNumBuffers(packet, 1));
  EXPECT_EQ(device_->counters().errors, 2u);
}

TEST_F(NetDeviceTest, ABrokenReceiveRingIsAnError) {
  Activate();
  PeerSend(Packet(60, 21));
  rx_->MakeAvailable(kSize);  // a head beyond the queue
  EXPECT_THAT(Receive(), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(NetDeviceTest, ReadsArePacedAndTheRestServedOnTheNextPass) {
  Activate();
  // More dropped packets than one pass reads, then a good one.
  ASSERT_NO_FATAL_FAILURE(GrowPeerSendBuffer());
  for (int i = 0; i < NetDevice::kMaxReadsPerPass + 10; ++i) PeerSend(Packet(1, 22));
  const Bytes good = Packet(60, 23);
  PeerSend(good);
  PostReceive(0, kRxData, 1526);
  ASSERT_OK(Receive());
  EXPECT_EQ(rx_->UsedIdx(), 0);
  EXPECT_EQ(device_->counters().drops, static_cast<uint64_t>(NetDevice::kMaxReadsPerPass));
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(Guest(kRxData, good.size()), WithNumBuffers(good, 1));
}

TEST_F(NetDeviceTest, ChainsHeldForAQueueTakenDownAreForgotten) {
  Activate(kMergeable);
  PostReceive(0, kRxData, 64);
  PeerSend(Packet(100, 24));  // waits, holding chain 0
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_queue_->in_flight(), 1);
  // QueueReady = 0, then set up again (as the transport allows while negotiating).
  ASSERT_NO_FATAL_FAILURE(ConfigureQueues(kSize));
  PostReceive(5, kRxData + 0x1000, 1526);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(rx_->UsedElement(0).id, 5u);
  EXPECT_EQ(rx_->UsedElement(0).len, 112u);
  EXPECT_EQ(Guest(kRxData + 0x1000, 112), WithNumBuffers(Packet(100, 24), 1));
}

// --- Offloads, reset, state -----------------------------------------------------------------

TEST_F(NetDeviceTest, OffloadsAreSetAtTheFirstProcessQueueNotInActivate) {
  Activate(kCsum | kTso4 | kTso6 | kMergeable);
  EXPECT_TRUE(calls_->Flags().empty()) << "Activate runs on a vCPU thread: no ioctl there";
  ASSERT_OK(Transmit());
  EXPECT_THAT(calls_->Flags(), ElementsAre(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
  ASSERT_OK(Receive());
  ASSERT_OK(Transmit());
  EXPECT_EQ(calls_->Flags().size(), 1u);
  // A new negotiation without checksum offload turns them off again.
  device_->Reset();
  ASSERT_OK(Receive());  // not live: the transport would not call this, and nothing is set
  EXPECT_EQ(calls_->Flags().size(), 1u);
  Activate(kTso4);
  ASSERT_OK(Receive());
  EXPECT_THAT(calls_->Flags(), ElementsAre(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, 0u));
}

TEST_F(NetDeviceTest, AFailingOffloadSetterIsCountedAndTrafficFlows) {
  {
    MutexLock lock(&calls_->mutex);
    calls_->result = absl::InvalidArgumentError("TUNSETOFFLOAD(tap0, 0x7): Invalid argument");
  }
  Activate(kCsum | kTso4 | kTso6);
  const Bytes packet = Packet(60, 25);
  SubmitTransmit(0, kTxData, packet);
  ASSERT_OK(Transmit());
  EXPECT_EQ(PeerReceive(), packet);
  EXPECT_EQ(device_->counters().errors, 1u);
}

TEST_F(NetDeviceTest, ResetDropsTheWaitingPacketAndForgetsTheFeatures) {
  Activate(kMergeable | kCsum);
  PostReceive(0, kRxData, 64);
  PeerSend(Packet(100, 26));
  ASSERT_OK(Receive());
  EXPECT_EQ(device_->state().negotiated_features, kMergeable | kCsum | kFeatureVersion1);
  device_->Reset();
  EXPECT_EQ(device_->counters().drops, 1u);
  EXPECT_EQ(device_->state().negotiated_features, 0u);
  // The driver starts over: new rings, no MRG_RXBUF; the next packet goes whole.
  ASSERT_NO_FATAL_FAILURE(ConfigureQueues(kSize));
  Activate();
  PostReceive(0, kRxData, 1526);
  const Bytes next = Packet(70, 27);
  PeerSend(next);
  ASSERT_OK(Receive());
  ASSERT_EQ(rx_->UsedIdx(), 1);
  EXPECT_EQ(rx_->UsedElement(0).len, 82u);
  EXPECT_EQ(Guest(kRxData, 82), WithNumBuffers(next, 1));
}

TEST_F(NetDeviceTest, StateRoundTripsIntoAnotherDevice) {
  EXPECT_EQ(device_->state(), (NetDeviceState{kMac, 0}));
  Activate(kCsum | kMergeable);
  const NetDeviceState state = device_->state();
  EXPECT_EQ(state, (NetDeviceState{kMac, kCsum | kMergeable | kFeatureVersion1}));

  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd other_peer(fds[1]);
  std::vector<unsigned> flags;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<NetDevice> copy,
                       NetDevice::Create(UniqueFd(fds[0]), kMac, [&flags](unsigned f) {
                         flags.push_back(f);
                         return absl::OkStatus();
                       }));
  ASSERT_OK(copy->Restore(state));
  EXPECT_EQ(copy->state(), state);
  // The restored device sets its offloads on the loop too.
  EXPECT_TRUE(flags.empty());
  ASSERT_OK(copy->ProcessQueue(1, *tx_queue_, *memory_));
  EXPECT_THAT(flags, ElementsAre(static_cast<unsigned>(TUN_F_CSUM)));

  NetDeviceState other_mac = state;
  other_mac.mac[5] = 0x57;
  EXPECT_THAT(copy->Restore(other_mac),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("52:54:00:12:34:57")));
  NetDeviceState multiqueue = state;
  multiqueue.negotiated_features |= NetFeature(VIRTIO_NET_F_MQ);
  EXPECT_THAT(copy->Restore(multiqueue),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("never offered")));
  EXPECT_EQ(copy->state(), state);
}

// --- With the VM's event loop ----------------------------------------------------------------

// The transport's part, as MmioTransport plays it: one lock around ProcessQueue and every
// driver action (the guest's ring writes stand in for a concurrent guest), serve_queue on
// the loop thread.
class NetDeviceLoopTest : public NetDeviceTest {
 protected:
  void Attach() {
    ASSERT_OK_AND_ASSIGN(loop_, EventLoop::Create("net-test"));
    ASSERT_OK(device_->AttachBackend(*loop_, [this](size_t index) {
      MutexLock lock(&mutex_);
      ++(index == 0 ? served_receive_ : served_transmit_);
      Virtqueue& queue = index == 0 ? *rx_queue_ : *tx_queue_;
      if (!device_->ProcessQueue(index, queue, *memory_).ok()) failed_ = true;
    }));
  }
  void TearDown() override {
    if (loop_) loop_->Stop();
  }

  // Waits (at most 10 s: a failure, not a timing goal) until `done` holds under the lock.
  bool WaitUntil(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      {
        MutexLock lock(&mutex_);
        if (done()) return true;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }

  Mutex mutex_;
  // Calls of serve_queue (the backend's handler), per queue.
  std::atomic<int> served_receive_{0};
  std::atomic<int> served_transmit_{0};
  bool failed_ ABSL_GUARDED_BY(mutex_) = false;
  std::unique_ptr<EventLoop> loop_;
};

TEST_F(NetDeviceLoopTest, ReceivedPacketsReachTheGuestThroughTheLoop) {
  {
    MutexLock lock(&mutex_);
    Activate(kCsum | kTso4);
    PostReceive(0, kRxData, 1526);
  }
  ASSERT_NO_FATAL_FAILURE(Attach());
  const Bytes first = Packet(300, 28);
  PeerSend(first);
  ASSERT_TRUE(WaitUntil([&] { return rx_->UsedIdx() == 1; }));
  {
    MutexLock lock(&mutex_);
    EXPECT_EQ(Guest(kRxData, first.size()), WithNumBuffers(first, 1));
    EXPECT_FALSE(failed_);
  }
  // The offloads were set by the loop thread's ProcessQueue.
  {
    MutexLock lock(&calls_->mutex);
    ASSERT_THAT(calls_->flags, ElementsAre(TUN_F_CSUM | TUN_F_TSO4));
    EXPECT_NE(calls_->threads[0], std::this_thread::get_id());
  }
  // No buffer left: the next packet waits for the guest's notification.
  const Bytes second = Packet(400, 29);
  PeerSend(second);
  ASSERT_TRUE(WaitUntil([&] { return served_receive_ >= 2; }));
  {
    MutexLock lock(&mutex_);
    EXPECT_EQ(rx_->UsedIdx(), 1);
    PostReceive(1, kRxData + 0x1000, 1526);
  }
  // What the transport does on the guest's notification.
  ASSERT_OK(loop_->Post([this] {
    MutexLock lock(&mutex_);
    if (!device_->ProcessQueue(0, *rx_queue_, *memory_).ok()) failed_ = true;
  }));
  ASSERT_TRUE(WaitUntil([&] { return rx_->UsedIdx() == 2; }));
  MutexLock lock(&mutex_);
  EXPECT_EQ(Guest(kRxData + 0x1000, second.size()), WithNumBuffers(second, 1));
  EXPECT_EQ(device_->counters().packets_received, 2u);
}

TEST_F(NetDeviceLoopTest, PacketsBeyondOnePassAreServedWithoutAnotherWakeUp) {
  ASSERT_NO_FATAL_FAILURE(GrowPeerSendBuffer());
  for (int i = 0; i < NetDevice::kMaxReadsPerPass + 10; ++i) PeerSend(Packet(1, 30));
  const Bytes good = Packet(60, 31);
  PeerSend(good);
  {
    MutexLock lock(&mutex_);
    Activate();
    PostReceive(0, kRxData, 1526);
  }
  // Everything is queued before the fd is watched: one edge only.
  ASSERT_NO_FATAL_FAILURE(Attach());
  ASSERT_TRUE(WaitUntil([&] { return rx_->UsedIdx() == 1; }));
  MutexLock lock(&mutex_);
  EXPECT_EQ(Guest(kRxData, good.size()), WithNumBuffers(good, 1));
  EXPECT_EQ(device_->counters().drops, static_cast<uint64_t>(NetDevice::kMaxReadsPerPass + 10));
}

TEST_F(NetDeviceLoopTest, TransmitResumesWhenTheBackendDrains) {
  const int small = 4096;
  ASSERT_EQ(setsockopt(device_side_.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  constexpr int kPackets = 12;
  std::vector<Bytes> packets;
  {
    MutexLock lock(&mutex_);
    Activate();
    for (int i = 0; i < kPackets; ++i) {
      packets.push_back(Packet(1500, static_cast<uint8_t>(40 + i)));
      SubmitTransmit(static_cast<uint16_t>(i), kTxData + 0x1000 * i, packets.back());
    }
  }
  ASSERT_NO_FATAL_FAILURE(Attach());
  // The guest's notification.
  ASSERT_OK(loop_->Post([this] {
    MutexLock lock(&mutex_);
    if (!device_->ProcessQueue(1, *tx_queue_, *memory_).ok()) failed_ = true;
  }));
  ASSERT_TRUE(WaitUntil([&] { return tx_->UsedIdx() > 0; }));
  // From here the peer reading is all it takes: EPOLLOUT serves queue 1 again.
  std::vector<Bytes> received;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (received.size() < static_cast<size_t>(kPackets) && absl::Now() < deadline) {
    if (std::optional<Bytes> packet = PeerReceive()) {
      received.push_back(*packet);
    } else {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  EXPECT_EQ(received, packets);
  ASSERT_TRUE(WaitUntil([&] { return tx_->UsedIdx() == kPackets; }));
  MutexLock lock(&mutex_);
  EXPECT_EQ(device_->counters().drops, 0u);
  EXPECT_FALSE(failed_);
  // Queue 1 was served from the backend's handler, not only from the posted task.
  EXPECT_GE(served_transmit_, 1);
}

}  // namespace
}  // namespace vmmd::virtio
