#include "devices/virtio/vsock/vsock_device.h"

#include <errno.h>
#include <linux/virtio_vsock.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "devices/virtio/vsock/unix_socket.h"
#include "glog/logging.h"

namespace vmmd::virtio {

using vsock::Clock;
using vsock::Connection;
using vsock::ConnectionKey;
using vsock::kHeaderSize;

namespace {

// Host programs accepted per listener wake-up; more wait for the next (level-triggered).
constexpr int kAcceptBatch = 16;
// RX buffers one read of a socket may fill (Linux posts 4 KiB ones: 64 KiB, kMaxPayload).
constexpr size_t kRxBatch = 16;
// After accept4 fails for want of fds, the listener rests this long.
constexpr auto kListenerRetry = std::chrono::milliseconds(100);
// The edge-triggered interest of every connection socket (connection.h).
constexpr uint32_t kConnectionEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

static_assert(sizeof(virtio_vsock_config) == 8, "spec 5.10.4: le64 guest_cid");
static_assert(sizeof(virtio_vsock_event) == 4, "spec 5.10.6.7: le32 id");

}  // namespace

absl::StatusOr<std::unique_ptr<VsockDevice>> VsockDevice::Create(uint64_t guest_cid,
                                                                 std::string uds_path,
                                                                 VsockLimits limits) {
  if (guest_cid < 3 || guest_cid >= VMADDR_CID_ANY) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vsock guest_cid %d: must be at least 3 (0 to 2 are the hypervisor, loopback and host) "
        "and below %d (VMADDR_CID_ANY; the upper 32 bits are reserved)",
        guest_cid, VMADDR_CID_ANY));
  }
  if (uds_path.empty() || uds_path.size() > vsock::kMaxUdsPathLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vsock uds_path \"%s\" must be 1 to %d bytes long, so that \"<uds_path>_<port>\" fits "
        "a Unix socket address",
        uds_path, vsock::kMaxUdsPathLength));
  }
  if (limits.max_connections == 0 || limits.max_pending_host_connections == 0 ||
      limits.max_queued_resets == 0 || limits.buffer_size == 0 ||
      limits.buffer_size >= (uint32_t{1} << 31) || limits.max_buffered_bytes < vsock::kMaxPayload) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vsock limits: max_connections, max_pending_host_connections and max_queued_resets "
        "must be positive, buffer_size between 1 and 2^31 - 1, max_buffered_bytes at least "
        "one packet (%d bytes)",
        vsock::kMaxPayload));
  }
  ASSIGN_OR_RETURN(UniqueFd listener, vsock::ListenUnix(uds_path));
  absl::StatusOr<EventFd> wake = EventFd::Create();
  if (!wake.ok()) {
    ::unlink(uds_path.c_str());
    return wake.status();
  }
  UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer.valid()) {
    absl::Status error = ::vmmd::ErrnoToStatus(errno, "timerfd_create(CLOCK_MONOTONIC)");
    ::unlink(uds_path.c_str());
    return error;
  }
  return std::unique_ptr<VsockDevice>(new VsockDevice(guest_cid, std::move(uds_path), limits,
                                                      std::move(listener), *std::move(wake),
                                                      std::move(timer)));
}

VsockDevice::VsockDevice(uint64_t guest_cid, std::string uds_path, VsockLimits limits,
                         UniqueFd listener, EventFd wake, UniqueFd timer)
    : guest_cid_(guest_cid),
      uds_path_(std::move(uds_path)),
      limits_(limits),
      listener_(std::move(listener)),
      wake_(std::move(wake)),
      timer_(std::move(timer)),
      table_(limits.max_connections, limits.max_queued_resets) {}

VsockDevice::~VsockDevice() {
  // The sockets close with their owners; the path goes with the listener.
  ::unlink(uds_path_.c_str());
}

void VsockDevice::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const {
  if (data.empty()) return;
  std::memset(data.data(), 0, data.size());
  virtio_vsock_config config;
  config.guest_cid = guest_cid_;
  if (offset >= sizeof(config)) return;
  const size_t length = std::min<uint64_t>(data.size(), sizeof(config) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config) + offset, length);
}

void VsockDevice::Activate(uint64_t) {
  // A vCPU thread: no syscall on our fds. The transport kicks every queue next, and the
  // first ProcessQueue starts accepting host programs.
  live_.store(true, std::memory_order_release);
}

void VsockDevice::Reset() {
  // A vCPU thread: no syscall on our fds. The loop closes everything, and stops accepting
  // host programs, when it next runs.
  live_.store(false, std::memory_order_release);
  reset_epoch_.fetch_add(1, std::memory_order_acq_rel);
}

void VsockDevice::PostTransportReset() {
  transport_reset_requested_.store(true, std::memory_order_release);
  if (loop_ != nullptr) wake_.Signal();
}

absl::Status VsockDevice::AttachBackend(EventLoop& loop,
                                        std::function<void(size_t index)> serve_queue) {
  if (loop_ != nullptr) {
    return absl::FailedPreconditionError("vsock device is already attached to an event loop");
  }
  loop_ = &loop;
  serve_queue_ = std::move(serve_queue);
  std::vector<int> added;
  absl::Status status = loop.Add(wake_.fd(), EPOLLIN, [this](uint32_t) { OnWake(); });
  if (status.ok()) {
    added.push_back(wake_.fd());
    status = loop.Add(timer_.get(), EPOLLIN, [this](uint32_t) { OnTimer(); });
  }
  if (!status.ok()) {
    for (int fd : added) (void)loop.Remove(fd);
    loop_ = nullptr;
    serve_queue_ = nullptr;
    return status;
  }
  // The listener joins the loop when a driver is live (UpdateListener, on the loop). A
  // device restored live was activated before it was attached, and no queue may be kicked
  // soon: have the wake-up handler add it.
  if (live_.load(std::memory_order_acquire)) wake_.Signal();
  return absl::OkStatus();
}

DeviceCounters VsockDevice::counters() const { return counters_.Load(); }

VsockStats VsockDevice::stats() const {
  VsockStats stats;
  stats.connections = stat_connections_.load(std::memory_order_relaxed);
  stats.pending_host_connections = stat_pending_.load(std::memory_order_relaxed);
  stats.queued_resets = stat_resets_.load(std::memory_order_relaxed);
  stats.buffered_bytes = stat_buffered_.load(std::memory_order_relaxed);
  return stats;
}

void VsockDevice::UpdateStats() {
  stat_connections_.store(table_.size(), std::memory_order_relaxed);
  stat_pending_.store(pending_.size(), std::memory_order_relaxed);
  stat_resets_.store(table_.resets(), std::memory_order_relaxed);
  stat_buffered_.store(table_.BufferedBytes(), std::memory_order_relaxed);
}

// --- The loop thread from here on.

bool VsockDevice::SyncState() {
  bool closed = false;
  const uint64_t epoch = reset_epoch_.load(std::memory_order_acquire);
  if (epoch != seen_epoch_) {
    // The driver reset the device: back to nothing. The queues were reset with it.
    seen_epoch_ = epoch;
    CloseEverything("device reset");
    event_due_ = false;
    tx_paused_ = false;
    closed = true;
  }
  if (transport_reset_requested_.exchange(false, std::memory_order_acq_rel)) {
    CloseEverything("transport reset");
    event_due_ = true;
    closed = true;
  }
  UpdateListener();
  if (closed) UpdateStats();
  return closed;
}

void VsockDevice::UpdateListener() {
  if (loop_ == nullptr) return;
  // Host programs are accepted while a driver is live (as Firecracker listens from
  // activation); the others wait in the kernel's backlog. Not while resting after EMFILE.
  const bool wanted = live_.load(std::memory_order_acquire) && !listener_resting_;
  if (wanted == listener_watched_) return;
  if (wanted) {
    const absl::Status added =
        loop_->Add(listener_.get(), EPOLLIN, [this](uint32_t) { OnListenerReady(); });
    if (!added.ok()) {
      LOG_EVERY_N(ERROR, 100) << "vsock cid " << guest_cid_ << ": " << added;
      return;
    }
  } else {
    (void)loop_->Remove(listener_.get());
  }
  listener_watched_ = wanted;
}

void VsockDevice::CloseEverything(const char* why) {
  if (table_.size() > 0 || !pending_.empty()) {
    // A guest may reset its device in a loop: rate-limited.
    LOG_EVERY_N(INFO, 100) << "vsock cid " << guest_cid_ << ": closing " << table_.size()
                           << " connections and " << pending_.size() << " host programs ("
                           << why << ")";
  }
  for (std::unique_ptr<Connection>& connection : table_.RemoveAll()) Unwatch(connection->fd());
  large_send_buffers_ = 0;
  for (auto& [fd, pending] : pending_) Unwatch(fd);
  pending_.clear();
}

void VsockDevice::Unwatch(int fd) {
  if (loop_ != nullptr) (void)loop_->Remove(fd);
}

absl::Status VsockDevice::ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) {
  SyncState();
  absl::Status status;
  switch (index) {
    case kRxQueue:
      status = FillRx(queue, memory);
      break;
    case kTxQueue:
      status = DrainTx(queue, memory);
      if (RxWorkDue()) KickLater(kRxQueue);
      break;
    case kEventQueue:
      status = ServeEvents(queue, memory);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrFormat("virtio-vsock queue index %d: the device has 3 queues", index));
  }
  UpdateStats();
  return status;
}

bool VsockDevice::RxWorkDue() const { return table_.resets() > 0 || table_.scheduled() > 0; }

absl::Status VsockDevice::FillRx(Virtqueue& queue, GuestMemory& memory) {
  while (true) {
    // Decide what goes out before taking a buffer: nothing is consumed until there is one.
    std::optional<ConnectionKey> reset = table_.PeekReset();
    Connection* connection = nullptr;
    ConnectionKey key;
    Connection::Op op = Connection::Op::kNone;
    if (reset) {
      key = *reset;
    } else {
      std::optional<ConnectionKey> next = table_.NextScheduled();
      if (!next) break;
      key = *next;
      connection = table_.Find(key);
      if (connection == nullptr) continue;
      op = connection->NextOp();
      if (op == Connection::Op::kNone) continue;  // out of line until something changes
    }
    absl::StatusOr<std::optional<DescriptorChain>> chain = queue.Pop(memory);
    if (!chain.ok() || !*chain) {
      if (connection != nullptr) table_.ScheduleFirst(key);
      if (!chain.ok()) return chain.status();
      break;  // no RX buffer: the guest's next one brings us back
    }
    AtomicDeviceCounters::Add(counters_.requests);
    const DescriptorChain& rx = **chain;
    if (rx.writable_length() < kHeaderSize) {
      // No room for a header: the buffer goes back unused, the packet waits for the next.
      AtomicDeviceCounters::Add(counters_.errors);
      LOG_EVERY_N(WARNING, 1000) << "vsock cid " << guest_cid_ << ": RX buffer of "
                                 << rx.writable_length() << " writable bytes, less than a header";
      if (connection != nullptr) table_.ScheduleFirst(key);
      RETURN_IF_ERROR(queue.AddUsed(memory, rx.head(), 0));
      continue;
    }
    if (connection == nullptr) {
      table_.PopReset();
      // An RST for no connection says nothing of credit (Firecracker sends 0 too).
      const virtio_vsock_hdr rst =
          vsock::MakeHeader(guest_cid_, key, VIRTIO_VSOCK_OP_RST, 0, 0, vsock::Credit{});
      RETURN_IF_ERROR(queue.AddUsed(memory, rx.head(), PlaceRxHeader(rx, memory, rst)));
      continue;
    }
    RETURN_IF_ERROR(FillRxFor(queue, memory, key, *connection, op, *std::move(*chain)));
    if (connection->finished()) {
      RemoveConnection(key);
    } else {
      table_.Schedule(key);  // to the back of the line: each connection in turn
    }
  }
  // RSTs went out: TX packets, held back while they were at their bound, may come in again.
  MaybeResumeTx();
  return absl::OkStatus();
}

absl::Status VsockDevice::FillRxFor(Virtqueue& queue, GuestMemory& memory, ConnectionKey key,
                                    Connection& connection, Connection::Op op,
                                    DescriptorChain first) {
  rx_batch_.clear();
  rx_rooms_.clear();
  iov_.clear();
  uint64_t room_total = 0;
  // Appends a chain's payload room to iov_; false when the chain has none to offer.
  auto add = [&](DescriptorChain chain) {
    uint64_t room = 0;
    if (chain.writable_length() >= kHeaderSize) {
      room = std::min<uint64_t>(chain.writable_length() - kHeaderSize, vsock::kMaxPayload);
      const size_t mark = iov_.size();
      if (!AppendHostIovecs(memory, chain.writable(), kHeaderSize, room, iov_).ok()) {
        iov_.resize(mark);
        room = 0;
      }
    }
    rx_rooms_.push_back(room);
    room_total += room;
    rx_batch_.push_back(std::move(chain));
    return room > 0;
  };
  // Data: one recvmsg fills as many buffers as the socket holds bytes for (within the
  // guest's credit, kRxBatch buffers and kMaxPayload bytes), rather than a syscall per 4 KiB
  // buffer, which is what Linux posts. No buffer is taken that the backlog cannot fill.
  bool extend = add(std::move(first)) && op == Connection::Op::kRw;
  const uint64_t ready =
      extend && room_total < connection.peer_credit() ? connection.ReadyBytes() : 0;
  while (extend && room_total < ready && room_total < vsock::kMaxPayload &&
         rx_batch_.size() < kRxBatch) {
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) break;
    AtomicDeviceCounters::Add(counters_.requests);
    extend = add(*std::move(chain));
  }
  const Connection::Packet packet = connection.Produce(op, iov_);
  uint64_t remaining = packet.op == VIRTIO_VSOCK_OP_RW ? packet.len : 0;
  rx_used_.clear();
  for (size_t i = 0; i < rx_batch_.size(); ++i) {
    const uint32_t len = static_cast<uint32_t>(std::min(rx_rooms_[i], remaining));
    remaining -= len;
    // A buffer with data carries RW; the first carries whatever else Produce made (a
    // handshake, a SHUTDOWN, an RST at the socket's end, a credit message); any other says
    // only our credit.
    uint16_t packet_op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
    uint32_t flags = 0;
    if (len > 0) {
      packet_op = VIRTIO_VSOCK_OP_RW;
    } else if (i == 0 && packet.op != VIRTIO_VSOCK_OP_RW) {
      packet_op = packet.op;
      flags = packet.flags;
    }
    const virtio_vsock_hdr header =
        vsock::MakeHeader(guest_cid_, key, packet_op, flags, len, connection.credit());
    rx_used_.push_back({rx_batch_[i].head(), PlaceRxHeader(rx_batch_[i], memory, header)});
  }
  return queue.AddUsedBatch(memory, rx_used_);
}

uint32_t VsockDevice::PlaceRxHeader(const DescriptorChain& rx, GuestMemory& memory,
                                    const virtio_vsock_hdr& header) {
  if (rx.writable_length() < kHeaderSize ||
      !rx.WriteToWritable(memory, 0,
                          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&header),
                                              sizeof(header)))
           .ok()) {
    AtomicDeviceCounters::Add(counters_.errors);
    return 0;
  }
  AtomicDeviceCounters::Add(counters_.packets_received);
  AtomicDeviceCounters::Add(counters_.bytes_read, header.len);
  return kHeaderSize + header.len;
}

bool VsockDevice::RoomForTxPacket(uint64_t buffered) const {
  return buffered + vsock::kMaxPayload <= limits_.max_buffered_bytes;
}

void VsockDevice::MaybeResumeTx() {
  if (tx_paused_ && !table_.resets_full() && RoomForTxPacket(table_.BufferedBytes())) {
    tx_paused_ = false;
    KickLater(kTxQueue);
  }
}

absl::Status VsockDevice::DrainTx(Virtqueue& queue, GuestMemory& memory) {
  // What host programs have not taken, counted once; each packet then adds at most its
  // payload (less if the socket takes some at once).
  uint64_t buffered = table_.BufferedBytes();
  while (true) {
    // A packet may need an RST: while as many as we hold are waiting, the guest keeps its
    // packets (and must give RX buffers to get them moving). 5.10.6.1: the tx virtqueue is
    // processed while there are "additional resources available to hold packets outside
    // the rx virtqueue"; once they are exhausted, processing stops until the guest processes
    // the rx virtqueue, which "prevents one side from causing unbounded resource consumption
    // in the other side".
    // The same holds for the bytes host programs have not taken: a packet may add its
    // payload to them.
    if (table_.resets_full() || !RoomForTxPacket(buffered)) {
      tx_paused_ = true;
      break;
    }
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) break;
    AtomicDeviceCounters::Add(counters_.requests);
    buffered += std::min<uint64_t>(chain->readable_length(), vsock::kMaxPayload);
    HandleTxPacket(*chain, memory);
    // TX buffers are device-readable only: nothing written (5.10.6.4, "Virtqueue buffers
    // for outgoing packets are read-only").
    RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), 0));
  }
  return absl::OkStatus();
}

void VsockDevice::HandleTxPacket(const DescriptorChain& chain, GuestMemory& memory) {
  absl::StatusOr<virtio_vsock_hdr> read = vsock::ReadHeader(chain, memory);
  if (!read.ok()) {
    // No header, no one to answer.
    AtomicDeviceCounters::Add(counters_.errors);
    AtomicDeviceCounters::Add(counters_.drops);
    LOG_EVERY_N(WARNING, 1000) << "vsock cid " << guest_cid_ << ": " << read.status();
    return;
  }
  const virtio_vsock_hdr& header = *read;
  AtomicDeviceCounters::Add(counters_.packets_sent);
  const ConnectionKey key = vsock::KeyOf(header);
  // A packet that is not from this guest to the host is not ours to answer (5.10.6.2,
  // "Addressing"; 5.10.6.4: the driver uses guest_cid as the source CID).
  if (header.src_cid != guest_cid_ || header.dst_cid != vsock::kHostCid) {
    AtomicDeviceCounters::Add(counters_.drops);
    LOG_EVERY_N(WARNING, 1000) << "vsock cid " << guest_cid_ << ": dropped a packet from cid "
                               << header.src_cid << " to cid " << header.dst_cid;
    return;
  }
  if (absl::Status length = vsock::CheckPayloadLength(header, chain.readable_length());
      !length.ok()) {
    AtomicDeviceCounters::Add(counters_.errors);
    LOG_EVERY_N(WARNING, 1000) << "vsock cid " << guest_cid_ << ": " << length;
    Refuse(key, header.op);
    return;
  }
  // Only stream sockets (SEQPACKET is not offered): "A VIRTIO_VSOCK_OP_RST reply MUST be
  // sent if a packet is received with an unknown type value" (5.10.6.4.2).
  if (header.type != VIRTIO_VSOCK_TYPE_STREAM) {
    Refuse(key, header.op);
    return;
  }
  Connection* connection = table_.Find(key);
  if (connection == nullptr) {
    if (header.op == VIRTIO_VSOCK_OP_REQUEST) {
      OpenGuestConnection(header);
    } else {
      Refuse(key, header.op);  // an RST for a connection already gone is just dropped
    }
    return;
  }
  iov_.clear();
  if (header.op == VIRTIO_VSOCK_OP_RW && header.len > 0 &&
      !AppendHostIovecs(memory, chain.readable(), kHeaderSize, header.len, iov_).ok()) {
    AtomicDeviceCounters::Add(counters_.errors);
    Refuse(key, header.op);
    return;
  }
  Connection::Verdict verdict = connection->OnGuestPacket(header, iov_);
  // The socket could not take it all: its host program reads slower than the guest sends.
  if (verdict == Connection::Verdict::kKeep && connection->buffered() > 0 &&
      MayGrowSendBuffer(*connection)) {
    verdict = connection->GrowSendBuffer(limits_.buffer_size);
    if (connection->large_send_buffer()) ++large_send_buffers_;
  }
  AtomicDeviceCounters::Add(counters_.bytes_written, connection->TakeForwarded());
  switch (verdict) {
    case Connection::Verdict::kClose:
      RemoveConnection(key);
      break;
    case Connection::Verdict::kReset:
      LOG_EVERY_N(WARNING, 1000) << "vsock cid " << guest_cid_ << ": reset host port "
                                 << key.local_port << " guest port " << key.peer_port
                                 << " at op " << header.op << " (protocol violation or "
                                 << "host socket error)";
      AtomicDeviceCounters::Add(counters_.drops);
      Kill(key);
      break;
    case Connection::Verdict::kKeep:
      table_.Schedule(key);
      NoteDeadline(*connection);
      break;
  }
}

bool VsockDevice::MayGrowSendBuffer(const Connection& connection) const {
  return !connection.large_send_buffer() && large_send_buffers_ < limits_.max_large_send_buffers &&
         limits_.buffer_size > kMaxHostSendBuffer;
}

void VsockDevice::Refuse(ConnectionKey key, uint16_t op) {
  AtomicDeviceCounters::Add(counters_.drops);
  // Never answer an RST with an RST (two devices would ping-pong).
  if (op == VIRTIO_VSOCK_OP_RST) {
    RemoveConnection(key);
    return;
  }
  Kill(key);
}

void VsockDevice::Kill(ConnectionKey key) {
  RemoveConnection(key);
  QueueReset(key);
}

void VsockDevice::QueueReset(ConnectionKey key) {
  if (!table_.QueueReset(key)) {
    // Only handlers get here with the queue full (TX waits while it is): the guest learns of
    // the reset when it next uses the connection.
    AtomicDeviceCounters::Add(counters_.drops);
  }
}

void VsockDevice::OpenGuestConnection(const virtio_vsock_hdr& request) {
  const ConnectionKey key = vsock::KeyOf(request);
  if (table_.size() + pending_.size() >= table_.max_connections()) {
    AtomicDeviceCounters::Add(counters_.drops);
    LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_ << ": refused a connection to port "
                              << request.dst_port << ": " << table_.max_connections()
                              << " connections open";
    QueueReset(key);
    return;
  }
  absl::StatusOr<UniqueFd> socket =
      vsock::ConnectUnix(vsock::PortSocketPath(uds_path_, request.dst_port));
  if (!socket.ok()) {
    // No host service on that port: the guest's connect() fails (ECONNRESET).
    AtomicDeviceCounters::Add(counters_.drops);
    VLOG(1) << "vsock cid " << guest_cid_ << ": " << socket.status();
    QueueReset(key);
    return;
  }
  if (!AddConnection(Connection::FromGuest(key, *std::move(socket), request, limits_.buffer_size,
                                           limits_.timeouts))
           .ok()) {
    QueueReset(key);
  }
}

void VsockDevice::OpenHostConnection(UniqueFd socket, uint32_t guest_port) {
  if (table_.full()) return;  // closing the socket tells the host program
  const ConnectionKey key{table_.AllocateLocalPort(), guest_port};
  std::unique_ptr<Connection> connection =
      Connection::FromHost(key, std::move(socket), limits_.buffer_size, limits_.timeouts);
  const std::optional<Clock::time_point> deadline = connection->deadline();
  if (AddConnection(std::move(connection)).ok() && deadline) ArmTimer(*deadline);
}

absl::Status VsockDevice::AddConnection(std::unique_ptr<Connection> connection) {
  const ConnectionKey key = connection->key();
  const int fd = connection->fd();
  // What the kernel holds for a host program that does not read, on top of our buffer: at
  // most twice kMaxHostSendBuffer (socket(7): the kernel doubles SO_SNDBUF for its
  // bookkeeping), rather than the default of about 200 KiB per connection.
  const int send_buffer = static_cast<int>(std::min(limits_.buffer_size, kMaxHostSendBuffer));
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof(send_buffer)) != 0) {
    LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_ << ": "
                              << ::vmmd::ErrnoToStatus(errno, "setsockopt(SO_SNDBUF)");
  }
  RETURN_IF_ERROR(table_.Insert(std::move(connection)));
  if (loop_ != nullptr) {
    absl::Status watched = loop_->Add(
        fd, kConnectionEvents, [this, key](uint32_t events) { OnConnectionReady(key, events); });
    if (!watched.ok()) {
      LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_ << ": " << watched;
      table_.Remove(key);
      return watched;
    }
  }
  table_.Schedule(key);
  return absl::OkStatus();
}

void VsockDevice::RemoveConnection(ConnectionKey key) {
  std::unique_ptr<Connection> connection = table_.Remove(key);
  if (connection == nullptr) return;
  Unwatch(connection->fd());
  if (connection->large_send_buffer()) --large_send_buffers_;
  // The socket closes here, after it left the loop.
}

absl::Status VsockDevice::ServeEvents(Virtqueue& queue, GuestMemory& memory) {
  while (event_due_) {
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) break;  // posted when the guest gives a buffer
    AtomicDeviceCounters::Add(counters_.requests);
    virtio_vsock_event event;
    event.id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET;
    if (chain->writable_length() < sizeof(event) ||
        !chain->WriteToWritable(memory, 0,
                                absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&event),
                                                    sizeof(event)))
             .ok()) {
      AtomicDeviceCounters::Add(counters_.errors);
      RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), 0));
      continue;
    }
    RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), sizeof(event)));
    event_due_ = false;
  }
  return absl::OkStatus();
}

void VsockDevice::KickLater(size_t index) {
  if (loop_ == nullptr) return;  // the caller serves the queues
  if (index == kRxQueue) rx_kick_ = true;
  if (index == kTxQueue) tx_kick_ = true;
  wake_.Signal();
}

void VsockDevice::Serve(size_t index) {
  if (serve_queue_) serve_queue_(index);
}

void VsockDevice::NoteDeadline(const Connection& connection) {
  if (connection.deadline()) ArmTimer(*connection.deadline());
}

void VsockDevice::ArmTimer(Clock::time_point when) {
  if (loop_ == nullptr) return;  // no loop, no timer handler: deadlines are not enforced
  if (timer_armed_ && *timer_armed_ <= when) return;
  const auto delay = std::max<Clock::duration>(when - Clock::now(), std::chrono::microseconds(1));
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(delay);
  itimerspec spec = {};
  spec.it_value.tv_sec = seconds.count();
  spec.it_value.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(delay - seconds).count();
  if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0) {
    LOG_EVERY_N(ERROR, 100) << "vsock cid " << guest_cid_ << ": "
                            << ::vmmd::ErrnoToStatus(errno, "timerfd_settime");
    return;
  }
  timer_armed_ = when;
}

// --- Handlers.

void VsockDevice::OnListenerReady() {
  SyncState();
  if (!listener_watched_) return;  // the driver went away: not accepting now
  for (int i = 0; i < kAcceptBatch; ++i) {
    absl::StatusOr<std::optional<UniqueFd>> accepted = vsock::AcceptUnix(listener_.get());
    if (!accepted.ok()) {
      // EMFILE and the like leave the connection waiting and the listener readable: rest it
      // instead of spinning.
      LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_ << ": " << accepted.status();
      PauseListener();
      break;
    }
    if (!*accepted) break;
    if (pending_.size() >= limits_.max_pending_host_connections ||
        table_.size() + pending_.size() >= table_.max_connections()) {
      // Closed at once: the host program reads EOF.
      LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_ << ": refused a host connection: "
                                << pending_.size() << " waiting for CONNECT, " << table_.size()
                                << " connections";
      continue;
    }
    const int fd = (*accepted)->get();
    if (loop_->Add(fd, EPOLLIN, [this, fd](uint32_t) { OnPendingReady(fd); }).ok()) {
      const Clock::time_point deadline = Clock::now() + limits_.connect_line_timeout;
      pending_.emplace(fd, PendingHost{std::move(**accepted), {}, deadline});
      ArmTimer(deadline);
    }
  }
  UpdateStats();
}

void VsockDevice::PauseListener() {
  if (listener_resting_) return;
  listener_resting_ = true;
  UpdateListener();
  listener_retry_ = Clock::now() + kListenerRetry;
  ArmTimer(*listener_retry_);
}

void VsockDevice::OnPendingReady(int fd) {
  if (SyncState()) return;  // this socket went with everything else
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  absl::StatusOr<std::optional<uint32_t>> port = it->second.reader.ReadFrom(fd);
  if (port.ok() && !*port) return;  // more of the line to come
  PendingHost pending = std::move(it->second);
  pending_.erase(it);
  Unwatch(fd);
  if (!port.ok()) {
    LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_ << ": " << port.status();
  } else {
    OpenHostConnection(std::move(pending.socket), **port);
    Serve(kRxQueue);
  }
  UpdateStats();
}

void VsockDevice::OnConnectionReady(ConnectionKey key, uint32_t events) {
  if (SyncState()) return;  // this socket went with everything else
  Connection* connection = table_.Find(key);
  if (connection == nullptr) return;
  const Connection::Verdict verdict = connection->OnSocketEvents(events);
  AtomicDeviceCounters::Add(counters_.bytes_written, connection->TakeForwarded());
  if (verdict == Connection::Verdict::kKeep) {
    table_.Schedule(key);
    NoteDeadline(*connection);
  } else {
    Kill(key);
  }
  // The socket took buffered bytes, or the connection went with them.
  MaybeResumeTx();
  UpdateStats();
  Serve(kRxQueue);
}

void VsockDevice::OnWake() {
  wake_.Consume();
  SyncState();
  if (rx_kick_) {
    rx_kick_ = false;
    Serve(kRxQueue);
  }
  if (tx_kick_) {
    tx_kick_ = false;
    Serve(kTxQueue);
  }
  if (event_due_) Serve(kEventQueue);
  UpdateStats();
}

void VsockDevice::OnTimer() {
  uint64_t expirations;
  (void)!::read(timer_.get(), &expirations, sizeof(expirations));
  timer_armed_.reset();
  SyncState();
  const Clock::time_point now = Clock::now();
  std::optional<Clock::time_point> next;
  auto consider = [&next](Clock::time_point when) {
    if (!next || when < *next) next = when;
  };
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline <= now) {
      LOG_EVERY_N(WARNING, 100) << "vsock cid " << guest_cid_
                                << ": host connection sent no CONNECT line in time";
      Unwatch(it->first);
      it = pending_.erase(it);
    } else {
      consider(it->second.deadline);
      ++it;
    }
  }
  bool killed = false;
  for (const ConnectionKey& key : table_.Keys()) {
    const std::optional<Clock::time_point> deadline = table_.Find(key)->deadline();
    if (!deadline) continue;
    if (*deadline <= now) {
      VLOG(1) << "vsock cid " << guest_cid_ << ": host port " << key.local_port << " guest port "
              << key.peer_port << " timed out";
      Kill(key);
      killed = true;
    } else {
      consider(*deadline);
    }
  }
  if (listener_resting_) {
    if (*listener_retry_ <= now) {
      listener_resting_ = false;
      listener_retry_.reset();
      UpdateListener();
    } else {
      consider(*listener_retry_);
    }
  }
  if (next) ArmTimer(*next);
  UpdateStats();
  if (killed) Serve(kRxQueue);
}

}  // namespace vmmd::virtio
