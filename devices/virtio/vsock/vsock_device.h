// VsockDevice: virtio-vsock (virtio 1.2 section 5.10, device id 19) implemented in vmmd, with
// Firecracker's host side (docs/vsock.md): Unix stream sockets instead of the kernel's
// vhost-vsock.
//
// Queues (5.10.2): rx 0 (256 entries), tx 1 (256), event 2 (16). Configuration (5.10.4):
// le64 guest_cid, read-only. Features: VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC; no
// VIRTIO_VSOCK_F_SEQPACKET, so only stream sockets ("If no feature bit is set, only stream
// socket type is supported", 5.10.3); a packet of another type is answered with RST.
//
// Host side. The device listens at `uds_path` (it creates the socket, which must not exist,
// and unlinks it when destroyed), and accepts host programs while a driver is live (from
// Activate to Reset, as Firecracker listens from activation; until then they wait in the
// listen backlog):
//  - A host program connects there and writes "CONNECT <port>\n" (connect_command.h); the
//    device picks a host port (connection_table.h) and sends the guest a REQUEST from CID 2
//    to (guest_cid, port). The guest's RESPONSE makes the device write "OK <host port>\n"
//    to the program, and bytes flow both ways from then on; an RST, or no answer within
//    the handshake timeout, closes the program's socket.
//  - A guest connecting to CID 2 port P reaches the listener at "<uds_path>_P": the device
//    connects there without waiting; success is a RESPONSE, failure an RST.
// Each connection (connection.h) carries data with credit-based flow control both ways.
//
// Bounds per VM (VsockLimits), so that neither a hostile guest nor a host program makes the
// daemon grow: connections (a REQUEST beyond is answered RST, a host program beyond is
// closed); host programs that have not finished their CONNECT line, the line's length and
// the time it may take; the per-connection buffer (the buf_alloc advertised; a guest that
// sends past its credit is reset); RSTs waiting for RX buffers (the TX queue is not served
// while they are at their bound, so the guest, not the daemon, holds what it sends next).
// Other control packets are flags on their connection and cannot pile up.
//
// Threads. ReadConfig, Activate and Reset come from vCPU threads, whose seccomp filter
// refuses syscalls on the device's fds, under the transport's lock: Activate and Reset only
// set atomics (live, and a reset epoch). Everything else runs on the VM's event loop thread: ProcessQueue (the
// transport's, under its lock) and the handlers of the device's fds (listener, host
// connections, a wake-up eventfd, a timerfd), which serve queues through `serve_queue`
// (AttachBackend). The first of those to run after a Reset closes every connection and
// stops accepting; the transport kicks every queue at DRIVER_OK, so a re-activated device
// starts clean and accepts again. Handlers
// never spin: the listener and the CONNECT-line sockets are level-triggered and consumed;
// connection sockets are edge-triggered with their readiness remembered (connection.h).
// Queue work found by a queue it cannot reach (RX packets due after a TX packet, TX resumed
// after RSTs drained) is handed over through the wake-up eventfd, whose handler calls
// `serve_queue`. Without AttachBackend (unit tests, fuzzing) the caller serves the queues.
//
// Snapshots: connections cannot be saved. state() is what the device is rebuilt from, and
// PostTransportReset closes every connection and tells the guest with
// VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue (5.10.6.7), as a restored device
// must.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_VSOCK_DEVICE_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_VSOCK_DEVICE_H_

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "devices/virtio/virtio_device.h"
#include "devices/virtio/vsock/connect_command.h"
#include "devices/virtio/vsock/connection.h"
#include "devices/virtio/vsock/connection_table.h"
#include "devices/virtio/vsock/packet.h"

namespace vmmd::virtio {

// What one VM's vsock device may hold at most. The defaults bound it to max_buffered_bytes
// of buffers (64 MiB), which only host programs that stop reading can fill, about twice
// max_connections * 64 KiB in the kernel's socket buffers (SO_SNDBUF is set to buffer_size,
// at most kMaxHostSendBuffer, but for max_large_send_buffers connections: 8 MiB more), and a
// few hundred KiB of bookkeeping.
struct VsockLimits {
  // Connections at once, guest- and host-initiated together (Firecracker's MAX_CONNECTIONS
  // is 1023). Linux gives each guest socket its own port, so a guest needs this many only
  // if it really holds as many streams open.
  size_t max_connections = 1024;
  // Host programs accepted and still sending their CONNECT line (each also counts against
  // max_connections while it waits).
  size_t max_pending_host_connections = 64;
  // The buf_alloc the device advertises per connection: guest bytes the host socket has not
  // taken yet. 256 KiB, as vhost-vsock's host sockets advertise (Linux's default vsock
  // buffer): a guest then sends four 64 KiB packets before it waits for a CREDIT_UPDATE,
  // where 64 KiB (Firecracker's CONN_TX_BUF_SIZE) made every packet wait for one.
  uint32_t buffer_size = 256 * 1024;
  // Connections whose host socket takes a whole buffer_size (SO_SNDBUF = buffer_size) rather
  // than kMaxHostSendBuffer: the first ones whose host program fell behind their guest, while
  // they last. A guest streaming faster than its host program reads then hands the kernel a
  // whole window at once, where the small buffer sent a third of the bytes by way of the
  // device's buffer and a wake-up per refill. The kernel's share stays bounded: about
  // 2 * (max_connections * kMaxHostSendBuffer + max_large_send_buffers * buffer_size).
  size_t max_large_send_buffers = 16;
  // Guest bytes held for host programs that have not taken them, all connections together:
  // the TX queue is not served while one more packet could go past it, so a guest facing
  // host programs that stop reading holds the rest itself.
  uint64_t max_buffered_bytes = 64 * 1024 * 1024;
  // RSTs waiting for the guest's RX buffers (as many as the connections they may end).
  size_t max_queued_resets = 1024;
  // How long a host program has to send its CONNECT line.
  std::chrono::steady_clock::duration connect_line_timeout = std::chrono::seconds(2);
  // The guest's time to answer a REQUEST, and a closed connection's host to drain.
  vsock::Connection::Timeouts timeouts;
};

// What the device is rebuilt from (a snapshot saves this; connections are not saved).
struct VsockDeviceState {
  uint64_t guest_cid = 0;
  std::string uds_path;
};

// What the device holds right now (for GetVm, tests and the fuzzer's invariants).
struct VsockStats {
  uint64_t connections = 0;
  uint64_t pending_host_connections = 0;
  uint64_t queued_resets = 0;
  uint64_t buffered_bytes = 0;
};

class VsockDevice : public VirtioDevice {
 public:
  static constexpr size_t kRxQueue = 0;
  static constexpr size_t kTxQueue = 1;
  static constexpr size_t kEventQueue = 2;
  static constexpr uint16_t kRxQueueSize = 256;
  static constexpr uint16_t kTxQueueSize = 256;
  static constexpr uint16_t kEventQueueSize = 16;
  // SO_SNDBUF of a host program's socket, at most: the kernel's share of what a program that
  // does not read holds up (it doubles the figure for its bookkeeping, socket(7)).
  static constexpr uint32_t kMaxHostSendBuffer = 64 * 1024;

  // A device for guest `guest_cid`, listening at `uds_path`. INVALID_ARGUMENT, naming the
  // field: guest_cid below 3 or not below 2^32 - 1 (5.10.4: the upper 32 bits are reserved
  // and zeroed; 0, 1, 2 (the host) and 0xffffffff are reserved); uds_path empty or longer than
  // vsock::kMaxUdsPathLength (every "<uds_path>_<port>" must fit a sockaddr_un); a limit
  // of 0 or a buffer_size of 2^31 or more. bind/listen errors through ErrnoToStatus
  // (EADDRINUSE -> FAILED_PRECONDITION when uds_path exists, ENOENT -> NOT_FOUND for a missing
  // directory), and the eventfd's and timerfd's.
  static absl::StatusOr<std::unique_ptr<VsockDevice>> Create(uint64_t guest_cid,
                                                             std::string uds_path,
                                                             VsockLimits limits = {});
  // The loop has stopped (or was never attached): closes every socket and unlinks uds_path.
  ~VsockDevice() override;

  uint64_t guest_cid() const { return guest_cid_; }
  const std::string& uds_path() const { return uds_path_; }
  const VsockLimits& limits() const { return limits_; }

  uint32_t device_id() const override { return kDeviceIdVsock; }
  uint64_t offered_features() const override { return kFeatureIndirectDesc | kFeatureEventIdx; }
  std::vector<uint16_t> queue_max_sizes() const override {
    return {kRxQueueSize, kTxQueueSize, kEventQueueSize};
  }
  // struct virtio_vsock_config (5.10.4): le64 guest_cid; bytes beyond read as 0. Writes are
  // ignored (the field is read-only).
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  // The driver set DRIVER_OK: marks the device live (an atomic; see Threads above). The
  // loop starts accepting host programs when it next runs (the transport kicks every queue).
  void Activate(uint64_t negotiated_features) override;
  // Serves queue `index`: rx fills the guest's buffers with due packets (RSTs first, then
  // each connection in turn); tx takes the guest's packets; event posts a transport reset
  // when one is due. Pop's INVALID_ARGUMENT (a broken ring) and AddUsed's errors are
  // returned; INVALID_ARGUMENT for an index above 2. A refused packet is answered with RST
  // or dropped, and counted, not returned.
  absl::Status ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) override;
  // Marks every connection for closing and the device not live (see Threads above); makes
  // no syscall.
  void Reset() override;
  // Adds the wake-up eventfd and the timerfd to `loop`; the loop adds the listener when the
  // device is live (at once if it is already, as a restored device is). Once;
  // FAILED_PRECONDITION the second time; EventLoop::Add's errors.
  absl::Status AttachBackend(EventLoop& loop, std::function<void(size_t index)> serve_queue) override;
  DeviceCounters counters() const override;

  VsockDeviceState state() const { return VsockDeviceState{guest_cid_, uds_path_}; }
  VsockStats stats() const;

  // Closes every connection and posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue
  // (at once if the guest left a buffer there, otherwise when it does). Any thread but a
  // vCPU's (it signals the device's eventfd); the work happens on the loop, or, without
  // AttachBackend, in the next ProcessQueue.
  void PostTransportReset();

 private:
  // A host program accepted and still sending its CONNECT line.
  struct PendingHost {
    UniqueFd socket;
    vsock::ConnectLineReader reader;
    vsock::Clock::time_point deadline;
  };

  VsockDevice(uint64_t guest_cid, std::string uds_path, VsockLimits limits, UniqueFd listener,
              EventFd wake, UniqueFd timer);

  // --- Loop thread (or the single thread serving queues without a loop).
  // Applies a Reset or PostTransportReset that happened since; true if it closed everything.
  bool SyncState();
  void CloseEverything(const char* why);
  absl::Status FillRx(Virtqueue& queue, GuestMemory& memory);
  // FillRx's packet `op` for `connection` into `first` (popped, with room for a header); for
  // data, into as many more RX buffers as one read of its socket can fill, in one recvmsg.
  absl::Status FillRxFor(Virtqueue& queue, GuestMemory& memory, vsock::ConnectionKey key,
                         vsock::Connection& connection, vsock::Connection::Op op,
                         DescriptorChain first);
  // Writes `header` at the start of `rx`, whose header.len bytes of payload are in place,
  // and counts the packet. The used length, or 0 (counted as an error) when the chain has
  // no room for a header or it cannot be written.
  uint32_t PlaceRxHeader(const DescriptorChain& rx, GuestMemory& memory,
                         const virtio_vsock_hdr& header);
  absl::Status DrainTx(Virtqueue& queue, GuestMemory& memory);
  absl::Status ServeEvents(Virtqueue& queue, GuestMemory& memory);
  void HandleTxPacket(const DescriptorChain& chain, GuestMemory& memory);
  void OpenGuestConnection(const virtio_vsock_hdr& request);
  void OpenHostConnection(UniqueFd socket, uint32_t guest_port);
  absl::Status AddConnection(std::unique_ptr<vsock::Connection> connection);
  void RemoveConnection(vsock::ConnectionKey key);
  // Whether `connection`'s socket may get a send buffer of buffer_size: it has none yet,
  // and fewer than max_large_send_buffers connections have one (see VsockLimits).
  bool MayGrowSendBuffer(const vsock::Connection& connection) const;
  // Removes the connection (if any) and owes the guest an RST for `key`.
  void Kill(vsock::ConnectionKey key);
  // A guest packet refused: RST for its key (never in answer to an RST).
  void Refuse(vsock::ConnectionKey key, uint16_t op);
  void QueueReset(vsock::ConnectionKey key);
  void Unwatch(int fd);
  void ArmTimer(vsock::Clock::time_point when);
  void NoteDeadline(const vsock::Connection& connection);
  // Has queue `index` served through the wake-up eventfd (from inside ProcessQueue).
  void KickLater(size_t index);
  void Serve(size_t index);
  bool RxWorkDue() const;
  // Whether a TX packet may come in with `buffered` bytes held for host programs.
  bool RoomForTxPacket(uint64_t buffered) const;
  // Serves TX again once what paused it (queued RSTs, held bytes) has gone below its bound.
  void MaybeResumeTx();
  void UpdateStats();

  void OnListenerReady();
  void OnPendingReady(int fd);
  void OnConnectionReady(vsock::ConnectionKey key, uint32_t events);
  void OnWake();
  void OnTimer();
  // Watches the listener while the device is live and not resting after accept4 failed
  // for want of fds; stops watching otherwise.
  void UpdateListener();
  void PauseListener();

  const uint64_t guest_cid_;
  const std::string uds_path_;
  const VsockLimits limits_;
  const UniqueFd listener_;
  const EventFd wake_;
  const UniqueFd timer_;

  // Set once by AttachBackend before the loop calls anything of ours.
  EventLoop* loop_ = nullptr;
  std::function<void(size_t)> serve_queue_;

  // Loop-thread state.
  vsock::ConnectionTable table_;
  std::map<int, PendingHost> pending_;
  uint64_t seen_epoch_ = 0;
  bool event_due_ = false;
  bool tx_paused_ = false;
  bool rx_kick_ = false;
  bool tx_kick_ = false;
  bool listener_watched_ = false;
  bool listener_resting_ = false;
  std::optional<vsock::Clock::time_point> listener_retry_;
  std::optional<vsock::Clock::time_point> timer_armed_;
  std::vector<iovec> iov_;
  // FillRxFor's batch: the chains, the payload room of each, and their used elements.
  std::vector<DescriptorChain> rx_batch_;
  std::vector<uint64_t> rx_rooms_;
  std::vector<Virtqueue::UsedElement> rx_used_;

  // Shared with vCPU threads and whoever posts a transport reset.
  std::atomic<bool> live_{false};  // between Activate and Reset
  std::atomic<uint64_t> reset_epoch_{0};
  std::atomic<bool> transport_reset_requested_{false};

  AtomicDeviceCounters counters_;

  // Connections in the table whose socket has a send buffer of buffer_size.
  size_t large_send_buffers_ = 0;
  std::atomic<uint64_t> stat_connections_{0};
  std::atomic<uint64_t> stat_pending_{0};
  std::atomic<uint64_t> stat_resets_{0};
  std::atomic<uint64_t> stat_buffered_{0};
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_VSOCK_DEVICE_H_
