// NetDevice: virtio-net (virtio 1.2 section 5.1, device id 1) over a packet backend: a tap
// (tap.h) in the daemon, one end of a socketpair(AF_UNIX, SOCK_SEQPACKET) in tests. Each
// read or write of the backend is one packet: a 12-byte virtio_net_hdr_v1 then an Ethernet
// frame (net_header.h), so the guest's headers pass through both ways.
//
// Queues: receiveq 0 and transmitq 1 (no control queue), 256 entries each.
//
// Receive (5.1.6.3, 5.1.6.4): the backend's fd is watched edge-triggered on the VM's device
// loop (AttachBackend); its handler, and the guest posting receive buffers, serve queue 0.
// Serving reads one packet at a time until the fd has no more (EAGAIN) or the guest no more
// buffers. While the chains held have room for the largest packet (kMaxPacketLength; with
// MRG_RXBUF across as many chains as it needs, num_buffers in its header, otherwise one), the
// read lands straight in them: one copy, as vhost-net makes. Otherwise it lands in a host
// buffer and is copied into the chains it needs once the guest has them. A packet read while
// the guest has too few buffers waits, alone, for more; nothing more is read meanwhile, so a
// guest that posts nothing stalls only its own receive and the tap's kernel queue drops.
// Dropped and counted: packets larger than kMaxPacketLength, shorter than a header and an
// Ethernet header, with a header the guest did not negotiate (AcceptReceivedHeader), larger
// than the guest's buffers can take (one chain without MRG_RXBUF, the whole ring with it). A
// receive chain with less device-writable room than a header is malformed: returned with
// length 0 and counted.
//
// Transmit (5.1.6.2): each chain's device-readable part is one packet, handed to the
// backend with one writev straight from guest RAM, and the chain returned with length 0.
// Malformed chains (any device-writable buffer, shorter than the header, longer than
// kMaxPacketLength) are dropped and counted, and returned all the same. A packet the backend
// refuses (ENOBUFS, EINVAL, EIO) is dropped and counted. EAGAIN is backpressure: the chain
// is kept, transmit pauses, and the handler serves queue 1 again when the fd is writable
// (EPOLLOUT), or the next transmit notification does; at most one chain waits.
//
// Offloads: the features the guest accepted become TUNSETOFFLOAD flags (TapOffloadFlags),
// handed to the offload setter on the loop thread at the first ProcessQueue after Activate
// (the transport kicks every queue at DRIVER_OK), because Activate runs on a vCPU thread
// whose seccomp filter refuses syscalls on the device's fds.
//
// Threads: Activate, Reset and ProcessQueue are serialised by the transport's lock;
// ProcessQueue runs on the loop thread, Activate and Reset on vCPU threads, which touch plain
// state only. The configuration space is fixed at Create, so ReadConfig shares nothing
// mutable. The loop handler reads only atomics. Counters are atomics.
#ifndef VMMD_DEVICES_VIRTIO_NET_NET_DEVICE_H_
#define VMMD_DEVICES_VIRTIO_NET_NET_DEVICE_H_

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "devices/virtio/descriptor_chain.h"
#include "devices/virtio/net/mac_address.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/virtio_device.h"
#include "devices/virtio/virtqueue.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {

// What a NetDevice is beyond its construction, as a plain value (the snapshot issue saves
// it): its address, and the features the driver accepted (0 before DRIVER_OK).
struct NetDeviceState {
  MacAddress mac{};
  uint64_t negotiated_features = 0;

  friend bool operator==(const NetDeviceState& a, const NetDeviceState& b) {
    return a.mac == b.mac && a.negotiated_features == b.negotiated_features;
  }
  friend bool operator!=(const NetDeviceState& a, const NetDeviceState& b) { return !(a == b); }
};

class NetDevice : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr size_t kReceiveQueue = 0;
  static constexpr size_t kTransmitQueue = 1;
  // Packets read from the backend per ProcessQueue(0) at most, so that a backend sending
  // packets the device drops (which use no guest buffer) cannot hold the device loop; the
  // rest are served by a task posted to the loop.
  static constexpr int kMaxReadsPerPass = 2 * kQueueSize;

  // Applies TUNSETOFFLOAD flags to the backend (the daemon binds Tap::SetOffload); null when
  // the backend takes no offload settings (tests' socketpairs).
  using OffloadSetter = std::function<absl::Status(unsigned flags)>;

  // Whether the device offers the checksum and segmentation features (kNetOffloadFeatures).
  // kWithheld only to measure what they buy (vmmd --virtio_net_offloads=false, tools/bench):
  // the guest then checksums and segments what it sends, and the offload setter is given 0.
  enum class Offloads { kOffered, kWithheld };

  // A device moving packets through `backend` (made non-blocking here if it is not), with
  // address `mac`. INVALID_ARGUMENT for a closed fd, or a MAC that is multicast (bit 0 of
  // the first byte) or all zeros; fcntl's errors through ErrnoToStatus.
  static absl::StatusOr<std::unique_ptr<NetDevice>> Create(UniqueFd backend, const MacAddress& mac,
                                                           OffloadSetter set_offload = nullptr,
                                                           Offloads offloads = Offloads::kOffered);

  const MacAddress& mac() const { return mac_; }

  uint32_t device_id() const override { return kDeviceIdNet; }
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
  // struct virtio_net_config (5.1.4): mac, status VIRTIO_NET_S_LINK_UP, max_virtqueue_pairs
  // 1, the rest 0. Writes are ignored (5.1.4.2: the driver does not write the fields).
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  // Records the features; the offload setter runs at the next ProcessQueue (see above).
  void Activate(uint64_t negotiated_features) override;
  // Serves the receive (0) or transmit (1) queue. Pop's INVALID_ARGUMENT (a broken ring) and
  // AddUsed's errors are returned; INVALID_ARGUMENT for another index. Dropped packets and
  // malformed chains are counted, not returned.
  absl::Status ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) override;
  // Forgets the features, the packet waiting for receive buffers (counted as a drop) and
  // the chains held (the transport resets the queues with them). No syscall: vCPU thread.
  void Reset() override;
  // Watches the backend (EPOLLIN | EPOLLOUT | EPOLLET): readable serves queue 0, writable
  // serves queue 1 while transmit waits for room. Edge-triggered, so a backend that stays
  // readable while the guest has no buffers does not wake the loop again until another
  // packet arrives. EventLoop::Add's errors.
  absl::Status AttachBackend(EventLoop& loop,
                             std::function<void(size_t index)> serve_queue) override;
  DeviceCounters counters() const override;

  NetDeviceState state() const;
  // Puts back what state() read. INVALID_ARGUMENT when the MAC is not this device's (it is
  // the VM's configuration, given at Create) or the features include any never offered
  // (kFeatureVersion1 apart). A live device is activated by its transport's Restore as well.
  absl::Status Restore(const NetDeviceState& state);

 private:
  NetDevice(UniqueFd backend, const MacAddress& mac, OffloadSetter set_offload,
            uint64_t offered_features);

  void ApplyOffloads();
  absl::Status Receive(Virtqueue& queue, GuestMemory& memory);
  absl::Status Transmit(Virtqueue& queue, GuestMemory& memory);

  enum class ReadResult { kPacket, kNone, kBudgetSpent };
  // Reads the next packet into rx_iov_ and sets `length` (kPacket), unless there is none
  // (EAGAIN, end of file, an error) or `reads_left` ran out. Packets dropped on reading are
  // counted and skipped; the header of one taken is the one AcceptReceivedHeader left.
  ReadResult ReadPacket(int& reads_left, size_t& length);
  // Points rx_iov_ at the first kMaxPacketLength + 1 bytes of the chains one packet may use
  // (all held with MRG_RXBUF, the front one without); false when they have less room, or
  // more buffers than one readv takes.
  bool MapReceiveRoom(GuestMemory& memory, bool mergeable);
  // Pops receive chains until those held have `length` bytes of room (with MRG_RXBUF; one
  // chain without); false when the guest has too few buffers. True as well when every
  // descriptor is held, however little room that is. Malformed chains are returned here.
  absl::StatusOr<bool> HoldEnoughChains(Virtqueue& queue, GuestMemory& memory, bool mergeable,
                                        uint64_t length);
  struct ChainCount {
    size_t count = 0;
    uint64_t room = 0;  // their device-writable bytes together
  };
  // The front chains that a packet of `length` bytes takes, or all it may use if too few.
  ChainCount ChainsFor(size_t length, bool mergeable) const;
  // Copies the waiting packet (rx_packet_) into the held chains and uses them, or drops it
  // when they cannot take it (the chains then stay for the next packet).
  absl::Status DeliverPacket(Virtqueue& queue, GuestMemory& memory, bool mergeable);
  // Returns the front `chains` to the driver holding a packet of `length` bytes, with its
  // num_buffers set, in one used->idx store.
  absl::Status UseChains(Virtqueue& queue, GuestMemory& memory, ChainCount chains,
                         size_t length);
  void DropWaitingPacket();

  enum class SendResult { kDone, kWouldBlock };
  // One transmit chain to the backend; counts what happened.
  SendResult Send(const DescriptorChain& chain, GuestMemory& memory);

  const UniqueFd backend_;
  const MacAddress mac_;
  const OffloadSetter set_offload_;
  const uint64_t offered_features_;  // kNetOfferedFeatures, less the offloads when withheld
  const virtio_net_config config_;

  // Set by Activate (vCPU thread), read by ProcessQueue and state() (any thread).
  std::atomic<uint64_t> features_{0};
  std::atomic<bool> offloads_pending_{false};
  // Transmit waits for the backend to be writable (read by the loop handler).
  std::atomic<bool> transmit_blocked_{false};

  // The loop and the transport's serve function, from AttachBackend (before the guest runs).
  EventLoop* loop_ = nullptr;
  std::function<void(size_t)> serve_queue_;

  // Receive state (ProcessQueue(0) and Reset, under the transport's lock).
  std::vector<uint8_t> rx_packet_;  // kMaxPacketLength + 1 bytes: one more shows a longer one
  size_t rx_length_ = 0;            // the waiting packet's length; 0 when none
  std::deque<DescriptorChain> rx_chains_;  // popped, not yet used
  uint64_t rx_room_ = 0;                   // their device-writable bytes together
  std::vector<iovec> rx_iov_;  // where the next read lands: guest buffers or rx_packet_
  std::vector<Virtqueue::UsedElement> used_;  // UseChains', kept to reuse its allocation
  // Transmit state (ProcessQueue(1) and Reset): the chain waiting for the backend.
  std::optional<DescriptorChain> tx_waiting_;
  std::vector<iovec> tx_iov_;

  AtomicDeviceCounters counters_;
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_NET_NET_DEVICE_H_
