// Fuzzes virtio-net's data path (devices/virtio/net: NetDevice::ProcessQueue) with transmit
// and receive chains of any framing and packets of any size and header from the backend,
// through two ready Virtqueues in 640 KiB of guest RAM, against a reference model of virtio
// 1.2 section 5.1.6 as net_device.h narrows it. The backend is one end of a
// socketpair(AF_UNIX, SOCK_SEQPACKET); the harness is the peer.
//
// Input, read through FuzzedDataProvider in this order (the seeds are written with FdpEncoder
// in the same order; the constants are below, in namespace net_tx):
//   features      uint8 in [0, kAllFeatures]: kMergeable (VIRTIO_NET_F_MRG_RXBUF),
//                 kGuestCsum, kGuestTso4, kGuestTso6, kEventIdx, kIndirect
//   queue sizes   receive then transmit: 1 << log2, log2 uint8 in [0, kMaxSizeLog2]
// then operations, each an opcode uint8 in [0, kLastOp] and its operands:
//   kRxChain      a receive chain: pieces uint8 in [1, kMaxPieces], each a writable bool and
//                 a length (bool small: uint16 in [0, kMaxSmallPiece]; else uint32 in
//                 [0, kMaxPiece]); indirect bool; gap uint8 (8-byte units)
//   kTxChain      a transmit packet: a length (ConsumeLength), header flags uint8, gso_type
//                 uint8, pattern uint8; pieces uint8 in [1, kMaxPieces] and pieces - 1 cuts
//                 uint32 in [0, length]; a writable tail bool (then its length uint8);
//                 indirect bool; gap uint8
//   kPeerPacket   a packet the backend sends: a length (ConsumeLength), flags uint8,
//                 gso_type uint8, pattern uint8
//   kProcessRx    ProcessQueue(0)
//   kProcessTx    ProcessQueue(1)
//   kWrongIndex   index uint8 in [2, 255]: refused, nothing moves
//   kBreakRing    queue bool (transmit), jump bool; jump: avail->idx moves size + 1 + uint8
//                 ahead; otherwise a head of size + uint8 is made available
//   kReset        the driver resets and starts over: features uint8 in [0, kAllFeatures]
// and at the end kProcessRx and kProcessTx.
// ConsumeLength: kind uint8 in [0, 4]: small, uint16 in [0, 256]; around a header and an
// Ethernet header, uint8 in [24, 28]; around an MTU, uint16 in [1500, 1530]; around the
// largest packet, uint32 in [65560, 65564]; any, uint32 in [0, 70000].
//
// The model mirrors guest RAM and follows net_device.h: receive first holds chains with room
// for the largest packet (65,563 bytes, or one chain), then reads one packet at a time (at
// most kMaxReadsPerPass per pass), straight into those chains when they have that room in at
// most IOV_MAX buffers (dropped packets' bytes land there too), drops the too long, too short
// and those whose header the features do not allow (AcceptReceivedHeader), holds chains until
// the packet fits (MRG_RXBUF: across chains, num_buffers set; otherwise one chain, else
// dropped, the chain kept), returns chains with less than 12 writable bytes empty; a packet
// without enough buffers waits. Transmit sends each well-formed chain's readable bytes as one packet, drops
// the malformed (writable buffers, under 12 or over 65562 bytes), returns every chain with
// length 0, and waits on EAGAIN (which the harness's big socket buffers make rare; when it
// happens the peer's receipts say which chain waits). Pop's rules (2.7) as in
// block_request_fuzzer: a broken ring makes ProcessQueue fail with INVALID_ARGUMENT, and the
// driver resets.
// Checked after each ProcessQueue: its status, both queues' indices, every byte of guest RAM,
// every packet the peer received (bytes and order), the counters, and the offload setter
// (called once per activation with TapOffloadFlags, at the first ProcessQueue, never in
// Activate).
#include <fuzzer/FuzzedDataProvider.h>
#include <limits.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "base/unique_fd.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/split_ring.h"
#include "devices/virtio/virtqueue.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_one_input.h"
#include "tests/fuzz/guest_ram.h"
#include "tests/fuzz/virtio_device_ops.h"
#include "tests/fuzz/virtio_driver.h"

namespace vmmd::fuzz {
namespace {

using namespace ::vmmd::fuzz::net_tx;  // NOLINT: the format's constants
using ::vmmd::virtio::DeviceCounters;
using ::vmmd::virtio::kMaxPacketLength;
using ::vmmd::virtio::kNetHeaderSize;
using ::vmmd::virtio::NetDevice;
using ::vmmd::virtio::NetFeature;
using ::vmmd::virtio::Virtqueue;
using Bytes = std::vector<uint8_t>;

constexpr int kMaxOperations = 1000;

uint64_t NegotiatedFeatures(uint8_t bits) {
  uint64_t features = virtio::kFeatureVersion1;
  if (bits & kMergeable) features |= NetFeature(VIRTIO_NET_F_MRG_RXBUF);
  if (bits & kGuestCsum) features |= NetFeature(VIRTIO_NET_F_GUEST_CSUM);
  if (bits & kGuestTso4) features |= NetFeature(VIRTIO_NET_F_GUEST_TSO4);
  if (bits & kGuestTso6) features |= NetFeature(VIRTIO_NET_F_GUEST_TSO6);
  if (bits & kEventIdx) features |= virtio::kFeatureEventIdx;
  if (bits & kIndirect) features |= virtio::kFeatureIndirectDesc;
  return features;
}

uint32_t ConsumeLength(FuzzedDataProvider& provider) {
  switch (provider.ConsumeIntegralInRange<uint8_t>(0, 4)) {
    case 0:
      return provider.ConsumeIntegralInRange<uint16_t>(0, 256);
    case 1:
      return provider.ConsumeIntegralInRange<uint8_t>(24, 28);
    case 2:
      return provider.ConsumeIntegralInRange<uint16_t>(1500, 1530);
    case 3:
      return provider.ConsumeIntegralInRange<uint32_t>(65560, 65564);
    default:
      return provider.ConsumeIntegralInRange<uint32_t>(0, 70000);
  }
}

// `length` bytes of a packet: header flags and gso_type first, then bytes of `pattern`.
Bytes PacketBytes(uint32_t length, uint8_t flags, uint8_t gso_type, uint8_t pattern) {
  Bytes bytes(length);
  for (uint32_t i = 0; i < length; ++i) bytes[i] = static_cast<uint8_t>(pattern + i * 13 + i / 509);
  if (length > 0) bytes[0] = flags;
  if (length > 1) bytes[1] = gso_type;
  return bytes;
}

Bytes& ModelRam() {
  static Bytes& ram = *new Bytes(kMemorySize);
  std::memset(ram.data(), 0, ram.size());
  return ram;
}

size_t FirstDifference(const Bytes& a, const Bytes& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return n;
}

std::string Describe(const DeviceCounters& c) {
  return absl::StrFormat("requests %d read %d written %d errors %d received %d sent %d drops %d",
                         c.requests, c.bytes_read, c.bytes_written, c.errors, c.packets_received,
                         c.packets_sent, c.drops);
}

bool SameCounters(const DeviceCounters& a, const DeviceCounters& b) {
  return a.requests == b.requests && a.bytes_read == b.bytes_read &&
         a.bytes_written == b.bytes_written && a.errors == b.errors &&
         a.packets_received == b.packets_received && a.packets_sent == b.packets_sent &&
         a.drops == b.drops;
}

// A chain the harness built, as the model sees it.
struct ModelChain {
  uint16_t head = 0;
  std::vector<BuiltBuffer> buffers;
  bool indirect = false;
  std::vector<uint16_t> descriptors;  // the queue's descriptors it holds
  Bytes packet;                       // transmit: the readable bytes

  uint64_t Length(bool writable) const {
    uint64_t n = 0;
    for (const BuiltBuffer& b : buffers) n += b.writable == writable ? b.length : 0;
    return n;
  }
  // DescriptorChain::Walk refuses a readable buffer after a writable one.
  bool Misordered() const {
    bool writable = false;
    for (const BuiltBuffer& b : buffers) {
      if (writable && !b.writable) return true;
      writable = writable || b.writable;
    }
    return false;
  }
};

// One queue as the driver and the model see it.
struct QueueSide {
  const char* name;
  uint64_t table, avail, used;
  uint16_t size = 1;
  std::optional<Virtqueue> queue;
  Arena data;
  Arena tables;
  std::vector<bool> in_use;                   // descriptors held by outstanding chains
  std::map<uint16_t, ModelChain> outstanding;  // made available, not yet used, by head
  uint16_t next_avail = 0, next_used = 0;      // the model's
};

class Harness {
 public:
  Harness(GuestMemory& memory, NetDevice& device, int peer, uint8_t features, uint16_t rx_size,
          uint16_t tx_size, bool backend_roomy)
      : memory_(memory),
        device_(device),
        peer_(peer),
        backend_roomy_(backend_roomy),
        ram_(ModelRam()),
        writer_(memory, &ram_),
        rx_{"receive", kRxTable, kRxAvail, kRxUsed, rx_size, std::nullopt,
            Arena(kRxDataBegin, kRxDataEnd), Arena(kRxTablesBegin, kRxTablesEnd)},
        tx_{"transmit", kTxTable, kTxAvail, kTxUsed, tx_size, std::nullopt,
            Arena(kTxDataBegin, kTxDataEnd), Arena(kTxTablesBegin, kTxTablesEnd)} {
    Start(features);
  }

  // The driver's whole start: fresh rings, both queues ready, DRIVER_OK.
  void Start(uint8_t features) {
    features_ = features;
    negotiated_ = NegotiatedFeatures(features);
    StartQueue(rx_);
    StartQueue(tx_);
    device_.Activate(negotiated_);
    offloads_pending_ = true;
    CheckOffloads("Activate");
  }

  void Reset(uint8_t features) {
    device_.Reset();
    if (!rx_packet_.empty()) ++counters_.drops;
    rx_packet_.clear();
    rx_held_.clear();
    rx_room_ = 0;
    tx_waiting_.reset();
    offloads_pending_ = false;
    Start(features);
  }

  void RxChain(FuzzedDataProvider& provider) {
    const uint8_t pieces = provider.ConsumeIntegralInRange<uint8_t>(1, kMaxPieces);
    std::vector<BuiltBuffer> buffers;
    uint64_t total = 0;
    for (uint8_t i = 0; i < pieces; ++i) {
      const bool writable = provider.ConsumeBool();
      const uint32_t length = provider.ConsumeBool()
                                  ? provider.ConsumeIntegralInRange<uint16_t>(0, kMaxSmallPiece)
                                  : provider.ConsumeIntegralInRange<uint32_t>(0, kMaxPiece);
      buffers.push_back({total, length, writable});
      total += length;
    }
    const bool indirect = provider.ConsumeBool();
    const uint8_t gap = provider.ConsumeIntegral<uint8_t>();
    const std::optional<uint64_t> base = rx_.data.Take(total, 8 * uint64_t{gap}, 1, false);
    if (!base) return;
    // Pre-filled, so that what the device writes shows.
    FUZZ_CHECK(writer_.Fill(*base, 0xa5, total), "filling a receive buffer");
    for (BuiltBuffer& b : buffers) b.address += *base;
    MakeAvailable(rx_, std::move(buffers), indirect, {});
  }

  void TxChain(FuzzedDataProvider& provider) {
    const uint32_t length = ConsumeLength(provider);
    const uint8_t flags = provider.ConsumeIntegral<uint8_t>();
    const uint8_t gso_type = provider.ConsumeIntegral<uint8_t>();
    const uint8_t pattern = provider.ConsumeIntegral<uint8_t>();
    const std::vector<uint32_t> cuts = ConsumeCuts(provider, length);
    const bool writable_tail = provider.ConsumeBool();
    const uint8_t tail = writable_tail ? provider.ConsumeIntegral<uint8_t>() : 0;
    const bool indirect = provider.ConsumeBool();
    const uint8_t gap = provider.ConsumeIntegral<uint8_t>();
    const std::optional<uint64_t> base =
        tx_.data.Take(uint64_t{length} + tail, 8 * uint64_t{gap}, 1, false);
    if (!base) return;
    Bytes packet = PacketBytes(length, flags, gso_type, pattern);
    // (RingWriter::Write memcpys, which an empty span's null data may not reach.)
    if (!packet.empty()) FUZZ_CHECK(writer_.Write(*base, packet), "writing a transmit packet");
    std::vector<BuiltBuffer> buffers;
    uint64_t from = 0;
    for (size_t i = 0; i <= cuts.size(); ++i) {
      const uint64_t to = i < cuts.size() ? cuts[i] : length;
      buffers.push_back({*base + from, static_cast<uint32_t>(to - from), false});
      from = to;
    }
    if (writable_tail) buffers.push_back({*base + length, tail, true});
    MakeAvailable(tx_, std::move(buffers), indirect, std::move(packet));
  }

  void PeerPacket(FuzzedDataProvider& provider) {
    const uint32_t length = ConsumeLength(provider);
    const uint8_t flags = provider.ConsumeIntegral<uint8_t>();
    const uint8_t gso_type = provider.ConsumeIntegral<uint8_t>();
    const uint8_t pattern = provider.ConsumeIntegral<uint8_t>();
    Bytes packet = PacketBytes(length, flags, gso_type, pattern);
    const ssize_t sent = ::send(peer_, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    // A full socket (the guest takes nothing) refuses it: the kernel's queue drops, as a
    // tap's would. Otherwise the device will read it, in order.
    if (sent < 0) {
      FUZZ_CHECK(errno == EAGAIN || errno == EMSGSIZE, absl::StrFormat("send: errno %d", errno));
      return;
    }
    FUZZ_CHECK(static_cast<size_t>(sent) == packet.size(), "a short SEQPACKET send");
    backend_.push_back(std::move(packet));
  }

  void BreakRing(bool transmit, bool jump, uint8_t extra) {
    QueueSide& side = transmit ? tx_ : rx_;
    if (jump) {
      const uint16_t idx = Ram16(side.avail + virtio::kAvailIdxOffset);
      writer_.WriteValue<uint16_t>(side.avail + virtio::kAvailIdxOffset,
                                   static_cast<uint16_t>(idx + side.size + 1 + extra));
    } else {
      writer_.MakeAvailable(side.avail, side.size, static_cast<uint16_t>(side.size + extra));
    }
  }

  void WrongIndex(uint8_t index) {
    const virtio::VirtqueueState before = rx_.queue->state();
    const absl::Status status = device_.ProcessQueue(index, *rx_.queue, memory_);
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
               absl::StrFormat("ProcessQueue(%d): %s", index, status.ToString()));
    FUZZ_CHECK(rx_.queue->state() == before, "ProcessQueue of a wrong index moved the queue");
    FUZZ_CHECK(CopyOfRam(memory_) == ram_, "ProcessQueue of a wrong index wrote guest RAM");
    CheckOffloads("a wrong index");
  }

  void Process(bool transmit) {
    QueueSide& side = transmit ? tx_ : rx_;
    const std::string what = absl::StrFormat(
        "ProcessQueue(%s; features %#x, sizes %d/%d)", side.name, features_, rx_.size, tx_.size);
    const absl::Status status = device_.ProcessQueue(transmit ? 1 : 0, *side.queue, memory_);
    // The offloads go first, before any chain.
    if (offloads_pending_) {
      expected_offloads_.push_back(virtio::TapOffloadFlags(negotiated_));
      offloads_pending_ = false;
    }
    CheckOffloads(what);
    if (transmit) DrainPeer();
    const bool expect_ok = transmit ? ModelTransmit() : ModelReceive();
    if (expect_ok) {
      FUZZ_CHECK(status.ok(), what + ": " + status.ToString());
    } else {
      FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
                 what + ": the model expected a broken ring, got " + status.ToString());
    }
    FUZZ_CHECK(received_.empty(),
               absl::StrFormat("%s: the peer got %d packets the model did not send", what,
                               received_.size()));
    for (QueueSide* q : {&rx_, &tx_}) {
      FUZZ_CHECK(q->queue->state().next_avail == q->next_avail &&
                     q->queue->state().next_used == q->next_used,
                 absl::StrFormat("%s: %s queue next_avail %d next_used %d, the model has %d %d",
                                 what, q->name, q->queue->state().next_avail,
                                 q->queue->state().next_used, q->next_avail, q->next_used));
    }
    const Bytes& ram = CopyOfRam(memory_);
    FUZZ_CHECK(ram == ram_, absl::StrFormat("%s: guest RAM differs from the model at %#x", what,
                                            FirstDifference(ram, ram_)));
    const DeviceCounters counters = device_.counters();
    FUZZ_CHECK(SameCounters(counters, counters_),
               absl::StrFormat("%s: counters %s; the model has %s", what, Describe(counters),
                               Describe(counters_)));
    if (!expect_ok) {
      // DEVICE_NEEDS_RESET: the driver resets the device and starts over.
      Reset(features_);
      return;
    }
    for (QueueSide* q : {&rx_, &tx_}) {
      if (q->outstanding.empty()) {
        q->data.Clear();
        q->tables.Clear();
      }
    }
  }

 private:
  uint16_t Ram16(uint64_t address) const {
    uint16_t value;
    std::memcpy(&value, &ram_[address], 2);
    return value;
  }
  void SetRam16(uint64_t address, uint16_t value) { std::memcpy(&ram_[address], &value, 2); }

  void StartQueue(QueueSide& side) {
    writer_.Fill(side.table, 0, virtio::DescriptorTableBytes(side.size));
    writer_.Fill(side.avail, 0, virtio::AvailableRingBytes(side.size));
    writer_.Fill(side.used, 0, virtio::UsedRingBytes(side.size));
    absl::StatusOr<Virtqueue> queue = Virtqueue::Create(NetDevice::kQueueSize);
    FUZZ_CHECK(queue.ok(), queue.status().ToString());
    FUZZ_CHECK(queue->SetSize(side.size).ok() &&
                   queue->SetDescriptorTable(GuestAddress(side.table)).ok() &&
                   queue->SetAvailableRing(GuestAddress(side.avail)).ok() &&
                   queue->SetUsedRing(GuestAddress(side.used)).ok() &&
                   queue->SetFeatures(negotiated_).ok(),
               "configuring a queue");
    const absl::Status ready = queue->SetReady(memory_);
    FUZZ_CHECK(ready.ok(), ready.ToString());
    side.queue = *std::move(queue);
    side.next_avail = side.next_used = 0;
    side.outstanding.clear();
    side.in_use.assign(side.size, false);
    side.data.Clear();
    side.tables.Clear();
  }

  // Lays `buffers` out as a chain (in an indirect table if asked) on free descriptors and
  // makes it available; dropped when descriptors or table space run out.
  void MakeAvailable(QueueSide& side, std::vector<BuiltBuffer> buffers, bool indirect,
                     Bytes packet) {
    std::vector<uint16_t> free;
    for (uint16_t i = 0; i < side.size; ++i) {
      if (!side.in_use[i]) free.push_back(i);
    }
    const size_t n = buffers.size();
    ModelChain chain;
    if (indirect) {
      const std::optional<uint64_t> at = side.tables.Take(16 * n, 0, 16, false);
      if (!at || free.empty()) return;
      for (size_t i = 0; i < n; ++i) {
        const BuiltBuffer& b = buffers[i];
        writer_.WriteDescriptor(*at + 16 * i, b.address, b.length,
                                (b.writable ? VRING_DESC_F_WRITE : 0) |
                                    (i + 1 < n ? VRING_DESC_F_NEXT : 0),
                                static_cast<uint16_t>(i + 1));
      }
      chain.descriptors = {free[0]};
      writer_.WriteDescriptor(side.table + 16 * uint64_t{free[0]}, *at,
                              static_cast<uint32_t>(16 * n), VRING_DESC_F_INDIRECT, 0);
    } else {
      if (free.size() < n) return;
      chain.descriptors.assign(free.begin(), free.begin() + n);
      for (size_t i = 0; i < n; ++i) {
        const BuiltBuffer& b = buffers[i];
        writer_.WriteDescriptor(side.table + 16 * uint64_t{free[i]}, b.address, b.length,
                                (b.writable ? VRING_DESC_F_WRITE : 0) |
                                    (i + 1 < n ? VRING_DESC_F_NEXT : 0),
                                i + 1 < n ? free[i + 1] : 0);
      }
    }
    chain.head = free[0];
    chain.buffers = std::move(buffers);
    chain.indirect = indirect;
    chain.packet = std::move(packet);
    for (uint16_t d : chain.descriptors) side.in_use[d] = true;
    FUZZ_CHECK(writer_.MakeAvailable(side.avail, side.size, chain.head), "MakeAvailable");
    side.outstanding[chain.head] = std::move(chain);
  }

  // --- The model: Virtqueue's rules (virtqueue.h) and net_device.h's.

  enum class PopResult { kChain, kEmpty, kBroken };

  PopResult Pop(QueueSide& side, ModelChain& out) {
    const uint64_t idx_address = side.avail + virtio::kAvailIdxOffset;
    uint16_t pending = static_cast<uint16_t>(Ram16(idx_address) - side.next_avail);
    if (pending == 0 && (negotiated_ & virtio::kFeatureEventIdx)) {
      SetRam16(side.used + virtio::AvailEventOffset(side.size), side.next_avail);
    }
    if (pending > side.size) return PopResult::kBroken;
    if (pending == 0) return PopResult::kEmpty;
    if (static_cast<uint16_t>(side.next_avail - side.next_used) >= side.size) {
      return PopResult::kBroken;
    }
    const uint16_t head = Ram16(side.avail + virtio::AvailEntryOffset(side.next_avail % side.size));
    if (head >= side.size) return PopResult::kBroken;
    const auto found = side.outstanding.find(head);
    FUZZ_CHECK(found != side.outstanding.end(), "model: a head the harness never made available");
    const ModelChain& chain = found->second;
    if ((chain.indirect && !(negotiated_ & virtio::kFeatureIndirectDesc)) ||
        chain.buffers.size() > side.size || chain.Misordered()) {
      return PopResult::kBroken;
    }
    ++side.next_avail;
    out = chain;
    return PopResult::kChain;
  }

  void AddUsed(QueueSide& side, const ModelChain& chain, uint32_t length) {
    vring_used_elem element;
    element.id = chain.head;
    element.len = length;
    std::memcpy(&ram_[side.used + virtio::UsedElementOffset(side.next_used % side.size)],
                &element, sizeof(element));
    ++side.next_used;
    SetRam16(side.used + virtio::kUsedIdxOffset, side.next_used);
    for (uint16_t d : chain.descriptors) side.in_use[d] = false;
    side.outstanding.erase(chain.head);
  }

  // Bytes [0, length) of `packet` into the chain's writable part.
  void Scatter(const ModelChain& chain, const uint8_t* bytes, uint64_t length) {
    for (const BuiltBuffer& b : chain.buffers) {
      if (!b.writable || length == 0) continue;
      const uint64_t take = std::min<uint64_t>(b.length, length);
      std::memcpy(&ram_[b.address], bytes, take);
      bytes += take;
      length -= take;
    }
    FUZZ_CHECK(length == 0, "model: scatter past the chain");
  }

  bool ModelReceive() {
    const bool mergeable = (features_ & kMergeable) != 0;
    int reads_left = NetDevice::kMaxReadsPerPass;
    while (true) {
      bool direct = false;
      if (rx_packet_.empty()) {
        // Room for the largest packet is held first, whether a packet waits or not; with
        // it, reads land in the chains, dropped packets too.
        const HoldResult held = HoldChains(mergeable, kMaxPacketLength + 1);
        if (held == HoldResult::kBroken) return false;
        direct = held == HoldResult::kEnough && DirectRoom(mergeable);
        while (true) {
          if (reads_left <= 0 || backend_.empty()) return true;
          --reads_left;
          Bytes packet = std::move(backend_.front());
          backend_.pop_front();
          if (packet.empty()) return true;  // reads as end of file
          if (direct) {
            ScatterHeld(mergeable, packet.data(), std::min(packet.size(), kMaxPacketLength + 1));
          }
          if (packet.size() > kMaxPacketLength || packet.size() < kNetHeaderSize + ETH_HLEN) {
            ++counters_.drops;
            continue;
          }
          virtio_net_hdr_v1 header;
          std::memcpy(&header, packet.data(), sizeof(header));
          if (!AcceptHeader(header)) {
            ++counters_.drops;
            continue;
          }
          std::memcpy(packet.data(), &header, sizeof(header));
          rx_packet_ = std::move(packet);
          break;
        }
      }
      // Chains until the packet fits (those held for a direct read always do).
      if (!direct) {
        const HoldResult held = HoldChains(mergeable, rx_packet_.size());
        if (held == HoldResult::kBroken) return false;
        if (held == HoldResult::kEmpty) return true;
      }
      // Deliver, or drop when the chains cannot take it.
      const size_t length = rx_packet_.size();
      size_t count = 0;
      uint64_t room = 0;
      while (count < rx_held_.size() && room < length && (mergeable || count == 0)) {
        room += rx_held_[count++].Length(true);
      }
      if (room < length) {
        ++counters_.drops;
        rx_packet_.clear();
        continue;
      }
      const uint16_t num_buffers = static_cast<uint16_t>(count);
      std::memcpy(rx_packet_.data() + offsetof(virtio_net_hdr_v1, num_buffers), &num_buffers, 2);
      size_t offset = 0;
      for (size_t i = 0; i < count; ++i) {
        const ModelChain chain = rx_held_.front();
        rx_held_.pop_front();
        const size_t take = std::min<size_t>(chain.Length(true), length - offset);
        Scatter(chain, rx_packet_.data() + offset, take);
        AddUsed(rx_, chain, static_cast<uint32_t>(take));
        rx_room_ -= chain.Length(true);
        offset += take;
      }
      ++counters_.packets_received;
      counters_.bytes_read += length - kNetHeaderSize;
      counters_.requests += count;
      rx_packet_.clear();
    }
  }

  enum class HoldResult { kEnough, kEmpty, kBroken };
  // Pops receive chains until those held have `length` bytes of room (one chain without
  // MRG_RXBUF), or every descriptor is held (kEnough either way); returns the short ones empty.
  HoldResult HoldChains(bool mergeable, uint64_t length) {
    while (mergeable ? rx_room_ < length : rx_held_.empty()) {
      if (static_cast<uint16_t>(rx_.next_avail - rx_.next_used) >= rx_.size) break;
      ModelChain chain;
      const PopResult popped = Pop(rx_, chain);
      if (popped == PopResult::kBroken) return HoldResult::kBroken;
      if (popped == PopResult::kEmpty) return HoldResult::kEmpty;
      if (chain.Length(true) < kNetHeaderSize) {
        ++counters_.errors;
        ++counters_.requests;
        AddUsed(rx_, chain, 0);
        continue;
      }
      rx_room_ += chain.Length(true);
      rx_held_.push_back(std::move(chain));
    }
    return HoldResult::kEnough;
  }

  // Whether the chains a packet may use (all held with MRG_RXBUF, the front one without)
  // have kMaxPacketLength + 1 bytes of room in at most IOV_MAX non-empty buffers.
  bool DirectRoom(bool mergeable) const {
    uint64_t wanted = kMaxPacketLength + 1;
    size_t buffers = 0;
    for (const ModelChain& chain : rx_held_) {
      uint64_t take = std::min<uint64_t>(chain.Length(true), wanted);
      wanted -= take;
      for (const BuiltBuffer& b : chain.buffers) {
        if (!b.writable || b.length == 0 || take == 0) continue;
        ++buffers;
        take -= std::min<uint64_t>(b.length, take);
      }
      if (buffers > IOV_MAX) return false;
      if (wanted == 0 || !mergeable) break;
    }
    return wanted == 0;
  }

  // Bytes [0, length) read straight into the chains a packet may use, front first.
  void ScatterHeld(bool mergeable, const uint8_t* bytes, uint64_t length) {
    for (const ModelChain& chain : rx_held_) {
      if (length == 0) break;
      const uint64_t take = std::min<uint64_t>(chain.Length(true), length);
      Scatter(chain, bytes, take);
      bytes += take;
      length -= take;
      if (!mergeable) break;
    }
    FUZZ_CHECK(length == 0, "model: a direct read past the chains");
  }

  // net_header.h's AcceptReceivedHeader, restated from spec 5.1.6.4.1.
  bool AcceptHeader(virtio_net_hdr_v1& header) const {
    const bool csum = (features_ & kGuestCsum) != 0;
    if (!csum) header.flags &= static_cast<uint8_t>(~VIRTIO_NET_HDR_F_DATA_VALID);
    const uint8_t allowed = csum ? VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID : 0;
    if (header.flags & ~allowed) return false;
    if (header.gso_type == VIRTIO_NET_HDR_GSO_NONE) return true;
    if (header.gso_type == VIRTIO_NET_HDR_GSO_TCPV4) return csum && (features_ & kGuestTso4);
    if (header.gso_type == VIRTIO_NET_HDR_GSO_TCPV6) return csum && (features_ & kGuestTso6);
    return false;
  }

  // One transmit chain: true when it went (sent, or dropped as malformed), false when it
  // waits for the backend.
  bool Send(const ModelChain& chain) {
    const uint64_t readable = chain.Length(false);
    if (chain.Length(true) != 0 || readable < kNetHeaderSize || readable > kMaxPacketLength) {
      ++counters_.errors;
      ++counters_.drops;
      return true;
    }
    if (received_.empty()) {
      FUZZ_CHECK(!backend_roomy_, absl::StrFormat("a %d-byte packet was not sent, though the "
                                                  "backend's socket has room",
                                                  readable));
      return false;
    }
    FUZZ_CHECK(received_.front() == chain.packet,
               absl::StrFormat("the peer got a %d-byte packet where the model sends %d bytes "
                               "(first difference at %d)",
                               received_.front().size(), chain.packet.size(),
                               FirstDifference(received_.front(), chain.packet)));
    received_.pop_front();
    ++counters_.packets_sent;
    counters_.bytes_written += readable - kNetHeaderSize;
    return true;
  }

  bool ModelTransmit() {
    if (tx_waiting_) {
      if (!Send(*tx_waiting_)) return true;
      ++counters_.requests;
      AddUsed(tx_, *tx_waiting_, 0);
      tx_waiting_.reset();
    }
    while (true) {
      ModelChain chain;
      const PopResult popped = Pop(tx_, chain);
      if (popped == PopResult::kBroken) return false;
      if (popped == PopResult::kEmpty) return true;
      if (!Send(chain)) {
        tx_waiting_ = std::move(chain);
        return true;
      }
      ++counters_.requests;
      AddUsed(tx_, chain, 0);
    }
  }

  void DrainPeer() {
    Bytes buffer(kMaxPacketLength + 16);
    while (true) {
      const ssize_t got = ::recv(peer_, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (got < 0) {
        FUZZ_CHECK(errno == EAGAIN, absl::StrFormat("recv: errno %d", errno));
        return;
      }
      received_.emplace_back(buffer.begin(), buffer.begin() + got);
    }
  }

  void CheckOffloads(const std::string& when) {
    FUZZ_CHECK(OffloadCalls() == expected_offloads_,
               absl::StrFormat("%s: the offload setter was called %d times, the model expects "
                               "%d",
                               when, OffloadCalls().size(), expected_offloads_.size()));
  }

 public:
  static std::vector<unsigned>& OffloadCalls() {
    static std::vector<unsigned>& calls = *new std::vector<unsigned>();
    return calls;
  }

 private:
  GuestMemory& memory_;
  NetDevice& device_;
  const int peer_;
  const bool backend_roomy_;
  Bytes& ram_;
  RingWriter writer_;
  QueueSide rx_;
  QueueSide tx_;
  uint8_t features_ = 0;
  uint64_t negotiated_ = 0;
  bool offloads_pending_ = false;
  std::vector<unsigned> expected_offloads_;
  DeviceCounters counters_;
  std::deque<Bytes> backend_;   // sent by the peer, not yet read by the device
  std::deque<Bytes> received_;  // read by the peer, not yet matched to a chain
  Bytes rx_packet_;             // the packet waiting for buffers; empty when none
  std::deque<ModelChain> rx_held_;
  uint64_t rx_room_ = 0;
  std::optional<ModelChain> tx_waiting_;
};

}  // namespace

void FuzzOneInput(FuzzedDataProvider& provider) {
  GuestMemory& memory = *ClearedGuestMemory(kMemorySize);

  const uint8_t features = provider.ConsumeIntegralInRange<uint8_t>(0, kAllFeatures);
  const uint16_t rx_size =
      static_cast<uint16_t>(1u << provider.ConsumeIntegralInRange<uint8_t>(0, kMaxSizeLog2));
  const uint16_t tx_size =
      static_cast<uint16_t>(1u << provider.ConsumeIntegralInRange<uint8_t>(0, kMaxSizeLog2));

  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0,
             "socketpair");
  UniqueFd peer(fds[1]);
  // Room for a whole transmit pass (its packets fit in the transmit area, 256 KiB) and many
  // packets toward a guest that takes none; where net.core.wmem_max allows less, transmit
  // may meet EAGAIN, which the model then reads off the peer's receipts.
  const int room = 8 << 20;
  for (int fd : {fds[0], fds[1]}) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
  int granted = 0;
  socklen_t length = sizeof(granted);
  ::getsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &granted, &length);
  const bool roomy = granted >= (4 << 20);

  Harness::OffloadCalls().clear();
  absl::StatusOr<std::unique_ptr<NetDevice>> device = NetDevice::Create(
      UniqueFd(fds[0]), {0x52, 0x54, 0x00, 0xfa, 0x22, 0x01}, [](unsigned flags) {
        Harness::OffloadCalls().push_back(flags);
        return absl::OkStatus();
      });
  FUZZ_CHECK(device.ok(), device.status().ToString());

  Harness harness(memory, **device, peer.get(), features, rx_size, tx_size, roomy);
  for (int i = 0; i < kMaxOperations && provider.remaining_bytes() > 0; ++i) {
    switch (provider.ConsumeIntegralInRange<uint8_t>(0, kLastOp)) {
      case kRxChain:
        harness.RxChain(provider);
        break;
      case kTxChain:
        harness.TxChain(provider);
        break;
      case kPeerPacket:
        harness.PeerPacket(provider);
        break;
      case kProcessRx:
        harness.Process(/*transmit=*/false);
        break;
      case kProcessTx:
        harness.Process(/*transmit=*/true);
        break;
      case kWrongIndex:
        harness.WrongIndex(provider.ConsumeIntegralInRange<uint8_t>(2, 255));
        break;
      case kBreakRing: {
        const bool transmit = provider.ConsumeBool();
        const bool jump = provider.ConsumeBool();
        harness.BreakRing(transmit, jump, provider.ConsumeIntegral<uint8_t>());
        break;
      }
      case kReset:
        harness.Reset(provider.ConsumeIntegralInRange<uint8_t>(0, kAllFeatures));
        break;
    }
  }
  harness.Process(/*transmit=*/false);
  harness.Process(/*transmit=*/true);
}

}  // namespace vmmd::fuzz
