// Connection: one vsock stream between a guest port and a host Unix stream socket, as the
// device sees it (virtio 1.2 sections 5.10.6.3 "Buffer Space Management" and 5.10.6.5
// "Stream Sockets"): the handshake, data both ways with
// credit-based flow control, shutdown of either direction, and reset.
//
// Guest to host (TX): OnGuestPacket takes the guest's packets for this connection. Payload
// goes straight from guest memory to the socket (sendmsg over the chain's iovecs); what the
// socket cannot take yet waits in a TxBuffer of buf_alloc bytes, the receive buffer the
// device advertises in every packet. A guest that sends more than the credit it was given
// (buf_alloc less what it sent since the last fwd_cnt the device told it) is refused with
// RST, so the buffer never holds more than buf_alloc, whatever the guest does.
//
// Host to guest (RX): NextOp says what the guest is due next and Produce builds it into an
// RX chain (or, for data, into several: the device may hand it the room of as many chains as
// ReadyBytes says the socket can fill, and split what one read got among them); data is read
// from the socket straight into the chains' buffers, never more than the guest's credit (its
// buf_alloc less what it has not yet forwarded), and never while the guest shut its receive
// side. Out of credit, it asks once (CREDIT_REQUEST) and waits for a guest packet. It sends
// CREDIT_UPDATE when the guest's view of the free buffer has fallen below half and the device
// has forwarded bytes since, and answers CREDIT_REQUEST.
//
// The socket is watched edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET):
// OnSocketEvents records readiness, which only a read or write that would block clears, so a
// socket whose data cannot go to the guest yet (no credit, no RX buffers) wakes nobody until
// new data, space or a hang-up arrives.
//
// Closing: the host's EOF becomes SHUTDOWN(SEND) to the guest (with RCV as well when the host
// closed both directions); the guest's SHUTDOWN(SEND) becomes shutdown(SHUT_WR) on the socket
// once the buffer drains, its SHUTDOWN(RCV) shutdown(SHUT_RD). When both directions are
// finished the device sends RST and forgets the connection. A host-initiated connection
// writes "OK <local_port>\n" to its socket when the guest's RESPONSE comes (Firecracker's
// docs/vsock.md).
//
// Not thread-safe: the VM's event loop owns it. Every syscall is on its own socket.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_CONNECTION_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_CONNECTION_H_

#include <linux/virtio_vsock.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/types/span.h"
#include "base/unique_fd.h"
#include "devices/virtio/vsock/packet.h"
#include "devices/virtio/vsock/tx_buffer.h"

namespace vmmd::virtio::vsock {

using Clock = std::chrono::steady_clock;

class Connection {
 public:
  // What the connection sends the guest next (an RX packet), in the order NextOp considers
  // them.
  enum class Op {
    kNone,           // nothing due
    kRst,            // VIRTIO_VSOCK_OP_RST: the end; the device forgets the connection after
    kRequest,        // VIRTIO_VSOCK_OP_REQUEST: a host program asked to connect
    kResponse,       // VIRTIO_VSOCK_OP_RESPONSE: the host listener accepted the guest
    kRw,             // VIRTIO_VSOCK_OP_RW: data from the socket
    kShutdown,       // VIRTIO_VSOCK_OP_SHUTDOWN: the host closed a direction
    kCreditRequest,  // VIRTIO_VSOCK_OP_CREDIT_REQUEST: data waits and the guest gave no credit
    kCreditUpdate,   // VIRTIO_VSOCK_OP_CREDIT_UPDATE: the device freed buffer space
  };

  // What the device does with the connection after a guest packet or a socket event.
  enum class Verdict {
    kKeep,   // carry on (it may have something due: schedule it for RX)
    kReset,  // protocol violation or socket failure: send RST and forget it
    kClose,  // the guest reset it: forget it, send nothing
  };

  // How long the guest has to answer a REQUEST (Firecracker's CONN_REQUEST_TIMEOUT_MS), and to
  // let the host drain its data after shutting both directions (CONN_SHUTDOWN_TIMEOUT_MS).
  struct Timeouts {
    Clock::duration handshake = std::chrono::seconds(2);
    Clock::duration shutdown = std::chrono::seconds(2);
  };

  // The guest asked to connect (`request`, a VIRTIO_VSOCK_OP_REQUEST) and the device
  // connected `socket` to the host's listener: established, RESPONSE due.
  static std::unique_ptr<Connection> FromGuest(ConnectionKey key, UniqueFd socket,
                                               const virtio_vsock_hdr& request,
                                               uint32_t buf_alloc, Timeouts timeouts);
  // A host program asked to connect to guest port key.peer_port on `socket`: REQUEST due;
  // established by the guest's RESPONSE, which must come within timeouts.handshake.
  static std::unique_ptr<Connection> FromHost(ConnectionKey key, UniqueFd socket,
                                              uint32_t buf_alloc, Timeouts timeouts);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ConnectionKey key() const { return key_; }
  int fd() const { return socket_.get(); }
  bool established() const { return established_; }
  // Guest bytes waiting for the socket (at most buf_alloc).
  uint32_t buffered() const { return tx_.size(); }
  // Whether GrowSendBuffer gave the socket its larger send buffer.
  bool large_send_buffer() const { return large_send_buffer_; }
  // Our buf_alloc and fwd_cnt, as every packet we send carries them.
  Credit credit() const { return Credit{buf_alloc_, fwd_cnt_}; }
  // The bytes the guest may be sent now: its buf_alloc less what it has not forwarded.
  uint32_t peer_credit() const;
  // When the device must reset the connection if nothing changes (a REQUEST unanswered, a
  // closed connection whose host does not drain); nullopt when no timer runs.
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  // Bytes given to the socket since the last call (for the device's bytes_written).
  uint64_t TakeForwarded();

  // Bytes the host socket holds that the guest may be sent now (FIONREAD, within
  // peer_credit()); 0 when none, or the guest takes no more. The device sizes a read that
  // fills several RX buffers at once by it.
  uint32_t ReadyBytes();

  // A guest packet of this connection, its header already checked by the device (source
  // and destination CIDs, type, len within the chain and kMaxPayload). `payload` covers
  // exactly header.len bytes of guest memory (RW only; empty otherwise).
  Verdict OnGuestPacket(const virtio_vsock_hdr& header, absl::Span<const iovec> payload);

  // Sets the socket's SO_SNDBUF to `bytes` and sends it what the buffer holds that now fits:
  // a Unix socket says EPOLLOUT only once it is three-quarters empty, so the room the larger
  // buffer makes would otherwise wait for the host program's next reads. kReset on a send
  // error; a failed setsockopt changes nothing (large_send_buffer() stays false).
  Verdict GrowSendBuffer(uint32_t bytes);
  // The socket's epoll events (edge-triggered): records readiness and flushes buffered bytes.
  // kReset when the socket failed.
  Verdict OnSocketEvents(uint32_t events);

  // What the guest is due next; kNone when nothing. May peek at the socket (recv MSG_PEEK),
  // and notices the host's EOF there, but consumes nothing: the device pops an RX chain only
  // when this says something is due, and then calls Produce with it. It peeks only after a
  // read that may have emptied the socket (a short one, or one that took all ReadyBytes saw):
  // after any other, kRw is due without a peek, and should the socket turn out empty after
  // all, Produce makes a CREDIT_UPDATE.
  Op NextOp();

  // The packet's header fields that are not the connection's (op, flags, len).
  struct Packet {
    uint16_t op = VIRTIO_VSOCK_OP_INVALID;
    uint32_t flags = 0;
    uint32_t len = 0;
  };
  // Builds the packet NextOp named, reading data for kRw into `payload` (the RX chain's room
  // after the header), at most min(its size, peer_credit(), kMaxPayload) bytes. What it
  // builds may differ from `op`: EOF turns kRw into SHUTDOWN, a socket error into RST, a
  // chain with no room for data into CREDIT_UPDATE. After an RST the connection is
  // finished().
  Packet Produce(Op op, absl::Span<const iovec> payload);

  // An RST was produced: the device removes the connection.
  bool finished() const { return finished_; }

 private:
  Connection(ConnectionKey key, UniqueFd socket, uint32_t buf_alloc, Timeouts timeouts);

  // Sends guest bytes to the socket, buffering what it does not take; false on a send error.
  bool Forward(absl::Span<const iovec> payload, uint32_t len);
  // Sends buffered bytes; false on a send error.
  bool Flush();
  // Shuts the socket's write side once the guest will send no more and nothing is buffered.
  void MaybeShutHostWrite();
  // Due a CREDIT_UPDATE when the guest's view of our free space is low and we freed some.
  void MaybeDueCreditUpdate();
  // Both directions finished: RST due.
  void MaybeFinish();
  void Peek();

  const ConnectionKey key_;
  const UniqueFd socket_;
  const uint32_t buf_alloc_;
  const Timeouts timeouts_;

  bool established_ = false;
  bool request_due_ = false;
  bool response_due_ = false;
  bool rst_due_ = false;
  bool finished_ = false;
  bool credit_update_due_ = false;
  bool credit_requested_ = false;
  uint32_t shutdown_due_ = 0;   // VIRTIO_VSOCK_SHUTDOWN_* flags to send
  uint32_t shutdown_sent_ = 0;  // ... and sent

  // The guest's promises (its SHUTDOWN flags, which only accumulate).
  bool guest_no_send_ = false;
  bool guest_no_recv_ = false;
  // The host side: EOF read, both directions closed (EPOLLHUP), our write side shut.
  bool host_eof_ = false;
  bool host_hup_ = false;
  bool host_write_shut_ = false;
  // Edge-triggered readiness: set by events, cleared only by EAGAIN.
  bool readable_ = true;
  bool writable_ = true;
  // NextOp peeked and found data waiting, or the last read filled its room.
  bool data_waiting_ = false;
  // The socket's backlog as ReadyBytes last saw it, until the next read.
  std::optional<size_t> ready_seen_;
  bool large_send_buffer_ = false;

  TxBuffer tx_;
  // Flow control, all free-running (mod 2^32) as in the spec.
  uint32_t fwd_cnt_ = 0;             // guest bytes given to the socket
  uint32_t last_fwd_cnt_sent_ = 0;   // fwd_cnt_ in the last packet we sent
  uint32_t guest_sent_ = 0;          // guest bytes accepted (forwarded or buffered)
  uint32_t peer_buf_alloc_ = 0;
  uint32_t peer_fwd_cnt_ = 0;
  uint32_t sent_to_guest_ = 0;       // bytes given to the guest
  uint64_t forwarded_ = 0;           // since TakeForwarded

  std::optional<Clock::time_point> deadline_;
};

}  // namespace vmmd::virtio::vsock

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_CONNECTION_H_
