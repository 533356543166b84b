#include "devices/virtio/net/net_device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "devices/virtio/net/net_header.h"

namespace vmmd::virtio {
namespace {

// Spec 5.1.4's layout, checked against the UAPI struct that ReadConfig copies from.
static_assert(offsetof(virtio_net_config, mac) == 0, "spec 5.1.4: u8 mac[6]");
static_assert(offsetof(virtio_net_config, status) == 6, "spec 5.1.4: le16 status");
static_assert(offsetof(virtio_net_config, max_virtqueue_pairs) == 8,
              "spec 5.1.4: le16 max_virtqueue_pairs");

virtio_net_config MakeConfig(const MacAddress& mac) {
  virtio_net_config config;
  std::memset(&config, 0, sizeof(config));
  std::memcpy(config.mac, mac.data(), mac.size());
  // VIRTIO_NET_F_STATUS: the link is always up (a tap carries whatever its host side does).
  config.status = VIRTIO_NET_S_LINK_UP;
  // Only meaningful with VIRTIO_NET_F_MQ, which is not offered: one pair, said plainly.
  config.max_virtqueue_pairs = 1;
  return config;
}

constexpr size_t kNumBuffersOffset = offsetof(virtio_net_hdr_v1, num_buffers);

// The first `size` bytes of what `iov` points at, to `out`, and back: a packet's header, which
// the guest's buffers may split. The caller knows there are that many.
void CopyFromIovecs(absl::Span<const iovec> iov, void* out, size_t size) {
  auto* to = static_cast<uint8_t*>(out);
  for (size_t i = 0; size > 0; ++i) {
    const size_t take = std::min(size, iov[i].iov_len);
    std::memcpy(to, iov[i].iov_base, take);
    to += take;
    size -= take;
  }
}

void CopyToIovecs(const void* in, size_t size, absl::Span<const iovec> iov) {
  const auto* from = static_cast<const uint8_t*>(in);
  for (size_t i = 0; size > 0; ++i) {
    const size_t take = std::min(size, iov[i].iov_len);
    std::memcpy(iov[i].iov_base, from, take);
    from += take;
    size -= take;
  }
}

std::string MacText(const MacAddress& mac) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                         mac[5]);
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetDevice>> NetDevice::Create(UniqueFd backend,
                                                             const MacAddress& mac,
                                                             OffloadSetter set_offload,
                                                             Offloads offloads) {
  if (!backend.valid()) return absl::InvalidArgumentError("virtio-net backend fd is not open");
  // IEEE 802: bit 0 of the first octet marks a group address, which no NIC may have.
  if ((mac[0] & 1) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("MAC address %s is a multicast address", MacText(mac)));
  }
  if (std::all_of(mac.begin(), mac.end(), [](uint8_t b) { return b == 0; })) {
    return absl::InvalidArgumentError("MAC address 00:00:00:00:00:00 is not an address");
  }
  // The device loop must never wait on the backend.
  const int flags = ::fcntl(backend.get(), F_GETFL);
  if (flags < 0) return ::vmmd::ErrnoToStatus(errno, "fcntl(virtio-net backend, F_GETFL)");
  if ((flags & O_NONBLOCK) == 0 && ::fcntl(backend.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return ::vmmd::ErrnoToStatus(errno, "fcntl(virtio-net backend, F_SETFL, O_NONBLOCK)");
  }
  const uint64_t offered = offloads == Offloads::kOffered
                               ? kNetOfferedFeatures
                               : kNetOfferedFeatures & ~kNetOffloadFeatures;
  return std::unique_ptr<NetDevice>(
      new NetDevice(std::move(backend), mac, std::move(set_offload), offered));
}

NetDevice::NetDevice(UniqueFd backend, const MacAddress& mac, OffloadSetter set_offload,
                     uint64_t offered_features)
    : backend_(std::move(backend)),
      mac_(mac),
      set_offload_(std::move(set_offload)),
      offered_features_(offered_features),
      config_(MakeConfig(mac)),
      rx_packet_(kMaxPacketLength + 1) {}

uint64_t NetDevice::offered_features() const { return offered_features_; }

void NetDevice::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const {
  std::memset(data.data(), 0, data.size());
  if (offset >= sizeof(config_)) return;
  const size_t length = std::min<uint64_t>(data.size(), sizeof(config_) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config_) + offset, length);
}

void NetDevice::Activate(uint64_t negotiated_features) {
  features_.store(negotiated_features);
  // Not here: this is a vCPU thread, whose seccomp filter refuses ioctls on the tap.
  offloads_pending_.store(true);
}

void NetDevice::Reset() {
  features_.store(0);
  offloads_pending_.store(false);
  DropWaitingPacket();
  rx_chains_.clear();
  rx_room_ = 0;
  tx_waiting_.reset();
  transmit_blocked_.store(false);
}

absl::Status NetDevice::AttachBackend(EventLoop& loop,
                                      std::function<void(size_t index)> serve_queue) {
  if (loop_ != nullptr) return absl::FailedPreconditionError("virtio-net backend already attached");
  loop_ = &loop;
  serve_queue_ = std::move(serve_queue);
  // Edge-triggered: serving reads until EAGAIN when the guest has buffers, and otherwise
  // leaves packets in the kernel's queue, which must not wake the loop again and again.
  // EPOLLOUT edges matter only while transmit waits for room.
  return loop.Add(backend_.get(), EPOLLIN | EPOLLOUT | EPOLLET, [this](uint32_t events) {
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) serve_queue_(kReceiveQueue);
    if ((events & EPOLLOUT) != 0 && transmit_blocked_.load()) serve_queue_(kTransmitQueue);
  });
}

absl::Status NetDevice::ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) {
  if (index != kReceiveQueue && index != kTransmitQueue) {
    return absl::InvalidArgumentError(
        absl::StrFormat("virtio-net queue index %d: the device has 2 queues", index));
  }
  ApplyOffloads();
  return index == kReceiveQueue ? Receive(queue, memory) : Transmit(queue, memory);
}

void NetDevice::ApplyOffloads() {
  if (!offloads_pending_.exchange(false) || !set_offload_) return;
  // A tap left without the offloads still works: the kernel checksums and segments what
  // it hands us. The failure shows in the device's error count.
  if (!set_offload_(TapOffloadFlags(features_.load())).ok()) {
    AtomicDeviceCounters::Add(counters_.errors);
  }
}

// --- Receive --------------------------------------------------------------------------------

absl::Status NetDevice::Receive(Virtqueue& queue, GuestMemory& memory) {
  // Every chain in flight on the receive queue is one we hold, unless the driver took the
  // queue down (QueueReady = 0) under them: then they are gone.
  if (queue.in_flight() != rx_chains_.size()) {
    rx_chains_.clear();
    rx_room_ = 0;
  }
  const bool mergeable = (features_.load() & NetFeature(VIRTIO_NET_F_MRG_RXBUF)) != 0;
  int reads_left = kMaxReadsPerPass;
  while (true) {
    if (rx_length_ == 0) {
      // With room held for the largest packet, the read lands in the guest's buffers: one
      // copy, as vhost-net makes. Otherwise it lands in rx_packet_, which can wait.
      ASSIGN_OR_RETURN(const bool held,
                       HoldEnoughChains(queue, memory, mergeable, kMaxPacketLength + 1));
      const bool direct = held && MapReceiveRoom(memory, mergeable);
      if (!direct) {
        rx_iov_.assign(1, {rx_packet_.data(), rx_packet_.size()});
      }
      size_t length = 0;
      const ReadResult read = ReadPacket(reads_left, length);
      if (read == ReadResult::kBudgetSpent) {
        // More may wait, and an edge-triggered fd will not say so again: come back after
        // the loop's other work. If the loop refuses the task, the next packet's edge will do.
        if (loop_ != nullptr) (void)loop_->Post([this] { serve_queue_(kReceiveQueue); });
        return absl::OkStatus();
      }
      if (read == ReadResult::kNone) return absl::OkStatus();
      if (direct) {
        RETURN_IF_ERROR(UseChains(queue, memory, ChainsFor(length, mergeable), length));
        continue;
      }
      rx_length_ = length;
    }
    ASSIGN_OR_RETURN(const bool enough, HoldEnoughChains(queue, memory, mergeable, rx_length_));
    // Too few buffers: the packet waits for the guest's next receive notification.
    if (!enough) return absl::OkStatus();
    RETURN_IF_ERROR(DeliverPacket(queue, memory, mergeable));
  }
}

bool NetDevice::MapReceiveRoom(GuestMemory& memory, bool mergeable) {
  rx_iov_.clear();
  uint64_t wanted = kMaxPacketLength + 1;
  for (const DescriptorChain& chain : rx_chains_) {
    const uint64_t take = std::min<uint64_t>(chain.writable_length(), wanted);
    if (!AppendHostIovecs(memory, chain.writable(), 0, take, rx_iov_).ok()) return false;
    // Buffers too many for one readv (a guest's tiny ones): rx_packet_ takes the packet.
    if (rx_iov_.size() > IOV_MAX) return false;
    wanted -= take;
    if (wanted == 0 || !mergeable) break;
  }
  // Too little room: rx_packet_ takes the packet, and waits for more if it must.
  return wanted == 0;
}

NetDevice::ReadResult NetDevice::ReadPacket(int& reads_left, size_t& length) {
  while (true) {
    if (reads_left <= 0) return ReadResult::kBudgetSpent;
    --reads_left;
    const ssize_t got = ::readv(backend_.get(), rx_iov_.data(), static_cast<int>(rx_iov_.size()));
    if (got < 0) {
      if (errno == EINTR) continue;
      // EAGAIN: drained. Anything else (a tap whose interface went away: EBADFD) is the
      // host's; the next edge tries again.
      if (errno != EAGAIN && errno != EWOULDBLOCK) AtomicDeviceCounters::Add(counters_.errors);
      return ReadResult::kNone;
    }
    // End of file (a socketpair's peer closed; a tap never reads 0).
    if (got == 0) return ReadResult::kNone;
    length = static_cast<size_t>(got);
    // The room is one byte longer than any packet we take: filling it means truncation.
    if (length > kMaxPacketLength || length < kNetHeaderSize + ETH_HLEN) {
      AtomicDeviceCounters::Add(counters_.drops);
      continue;
    }
    virtio_net_hdr_v1 header;
    CopyFromIovecs(rx_iov_, &header, sizeof(header));
    if (!AcceptReceivedHeader(header, features_.load())) {
      AtomicDeviceCounters::Add(counters_.drops);
      continue;
    }
    CopyToIovecs(&header, sizeof(header), rx_iov_);
    return ReadResult::kPacket;
  }
}

absl::StatusOr<bool> NetDevice::HoldEnoughChains(Virtqueue& queue, GuestMemory& memory,
                                                 bool mergeable, uint64_t length) {
  while (mergeable ? rx_room_ < length : rx_chains_.empty()) {
    // Every descriptor is held and still too little room: no more can come, and
    // DeliverPacket drops the packet.
    if (queue.in_flight() >= queue.state().size) return true;
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) return false;
    // 5.1.6.3.2: each buffer holds at least the header. One that cannot goes back empty.
    if (chain->writable_length() < kNetHeaderSize) {
      AtomicDeviceCounters::Add(counters_.errors);
      AtomicDeviceCounters::Add(counters_.requests);
      RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), 0));
      continue;
    }
    rx_room_ += chain->writable_length();
    rx_chains_.push_back(*std::move(chain));
  }
  return true;
}

NetDevice::ChainCount NetDevice::ChainsFor(size_t length, bool mergeable) const {
  // One chain without MRG_RXBUF (5.1.6.4.2: "MUST use only a single descriptor chain"), as
  // many as it needs with it, front first.
  ChainCount chains;
  while (chains.count < rx_chains_.size() && chains.room < length &&
         (mergeable || chains.count == 0)) {
    chains.room += rx_chains_[chains.count++].writable_length();
  }
  return chains;
}

absl::Status NetDevice::DeliverPacket(Virtqueue& queue, GuestMemory& memory, bool mergeable) {
  const size_t length = rx_length_;
  const ChainCount chains = ChainsFor(length, mergeable);
  if (chains.room < length) {
    // Larger than the guest's buffers allow. The chains stay for the next packet.
    DropWaitingPacket();
    return absl::OkStatus();
  }
  size_t offset = 0;
  for (size_t i = 0; i < chains.count; ++i) {
    const DescriptorChain& chain = rx_chains_[i];
    const size_t take = std::min<size_t>(chain.writable_length(), length - offset);
    RETURN_IF_ERROR(chain.WriteToWritable(
        memory, 0, absl::MakeConstSpan(rx_packet_.data() + offset, take)));
    offset += take;
  }
  rx_length_ = 0;
  return UseChains(queue, memory, chains, length);
}

absl::Status NetDevice::UseChains(Virtqueue& queue, GuestMemory& memory, ChainCount chains,
                                  size_t length) {
  // 5.1.6.4.2: num_buffers is the number of chains used; 1 without MRG_RXBUF.
  const uint16_t num_buffers = static_cast<uint16_t>(chains.count);
  RETURN_IF_ERROR(rx_chains_.front().WriteToWritable(
      memory, kNumBuffersOffset,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&num_buffers), sizeof(num_buffers))));
  used_.clear();
  size_t offset = 0;
  for (size_t i = 0; i < chains.count; ++i) {
    const uint32_t writable = rx_chains_.front().writable_length();
    const size_t take = std::min<size_t>(writable, length - offset);
    used_.push_back({rx_chains_.front().head(), static_cast<uint32_t>(take)});
    offset += take;
    rx_room_ -= writable;
    rx_chains_.pop_front();
  }
  AtomicDeviceCounters::Add(counters_.packets_received);
  AtomicDeviceCounters::Add(counters_.bytes_read, length - kNetHeaderSize);
  AtomicDeviceCounters::Add(counters_.requests, chains.count);
  // One used->idx store for the packet's chains: Linux's receive_mergeable reads num_buffers
  // from the first buffer and takes the others at once; one not published yet is "missing".
  return queue.AddUsedBatch(memory, used_);
}

void NetDevice::DropWaitingPacket() {
  if (rx_length_ == 0) return;
  rx_length_ = 0;
  AtomicDeviceCounters::Add(counters_.drops);
}

// --- Transmit -------------------------------------------------------------------------------

absl::Status NetDevice::Transmit(Virtqueue& queue, GuestMemory& memory) {
  // As on receive: a waiting chain is gone if the driver took the queue down under it.
  if (tx_waiting_ && queue.in_flight() == 0) tx_waiting_.reset();
  transmit_blocked_.store(false);
  if (tx_waiting_) {
    if (Send(*tx_waiting_, memory) == SendResult::kWouldBlock) {
      transmit_blocked_.store(true);
      return absl::OkStatus();
    }
    const uint16_t head = tx_waiting_->head();
    tx_waiting_.reset();
    AtomicDeviceCounters::Add(counters_.requests);
    RETURN_IF_ERROR(queue.AddUsed(memory, head, 0));
  }
  while (true) {
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) return absl::OkStatus();
    if (Send(*chain, memory) == SendResult::kWouldBlock) {
      // Backpressure: this chain waits (the only one), and the rest stay in the ring.
      tx_waiting_ = *std::move(chain);
      transmit_blocked_.store(true);
      return absl::OkStatus();
    }
    AtomicDeviceCounters::Add(counters_.requests);
    // 5.1.6.2: the device writes nothing into a transmit chain.
    RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), 0));
  }
}

NetDevice::SendResult NetDevice::Send(const DescriptorChain& chain, GuestMemory& memory) {
  const uint64_t length = chain.readable_length();
  // Transmit buffers are device-readable only (5.1.6.2), and hold a header and at most the
  // largest packet.
  if (chain.writable_length() != 0 || length < kNetHeaderSize || length > kMaxPacketLength) {
    AtomicDeviceCounters::Add(counters_.errors);
    AtomicDeviceCounters::Add(counters_.drops);
    return SendResult::kDone;
  }
  // Straight from guest RAM, header and frame in one writev: one packet on the backend.
  // At most kQueueSize buffers (the walk's bound), well under IOV_MAX.
  tx_iov_.clear();
  for (const ChainBuffer& buffer : chain.readable()) {
    if (buffer.length == 0) continue;
    absl::StatusOr<absl::Span<uint8_t>> host = memory.HostSpan(buffer.address, buffer.length);
    // The walk checked every buffer against guest RAM: not expected, still not a crash.
    if (!host.ok()) {
      AtomicDeviceCounters::Add(counters_.errors);
      AtomicDeviceCounters::Add(counters_.drops);
      return SendResult::kDone;
    }
    tx_iov_.push_back({host->data(), host->size()});
  }
  while (true) {
    const ssize_t sent = ::writev(backend_.get(), tx_iov_.data(), static_cast<int>(tx_iov_.size()));
    if (sent >= 0) {
      AtomicDeviceCounters::Add(counters_.packets_sent);
      AtomicDeviceCounters::Add(counters_.bytes_written, length - kNetHeaderSize);
      return SendResult::kDone;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return SendResult::kWouldBlock;
    // Refused (a header the tap will not take: EINVAL; the interface down: EIO; ENOBUFS):
    // the packet is lost, as on a wire.
    AtomicDeviceCounters::Add(counters_.drops);
    return SendResult::kDone;
  }
}

// --- State and counters ---------------------------------------------------------------------

NetDeviceState NetDevice::state() const {
  NetDeviceState state;
  state.mac = mac_;
  state.negotiated_features = features_.load();
  return state;
}

absl::Status NetDevice::Restore(const NetDeviceState& state) {
  if (state.mac != mac_) {
    return absl::InvalidArgumentError(absl::StrFormat("mac: the state has %s, the device %s",
                                                      MacText(state.mac), MacText(mac_)));
  }
  const uint64_t unknown = state.negotiated_features & ~(offered_features() | kFeatureVersion1);
  if (unknown != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("negotiated_features %#x has bits never offered (%#x)",
                        state.negotiated_features, unknown));
  }
  features_.store(state.negotiated_features);
  offloads_pending_.store(state.negotiated_features != 0);
  return absl::OkStatus();
}

DeviceCounters NetDevice::counters() const { return counters_.Load(); }

}  // namespace vmmd::virtio
