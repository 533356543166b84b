#include "devices/virtio/vsock/connection.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace vmmd::virtio::vsock {
namespace {

bool WouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

// The first `limit` bytes of `iov`.
std::vector<iovec> Truncate(absl::Span<const iovec> iov, size_t limit) {
  std::vector<iovec> out;
  for (const iovec& v : iov) {
    if (limit == 0) break;
    const size_t take = std::min(v.iov_len, limit);
    out.push_back({v.iov_base, take});
    limit -= take;
  }
  return out;
}

}  // namespace

Connection::Connection(ConnectionKey key, UniqueFd socket, uint32_t buf_alloc, Timeouts timeouts)
    : key_(key),
      socket_(std::move(socket)),
      buf_alloc_(buf_alloc),
      timeouts_(timeouts),
      tx_(buf_alloc) {}

std::unique_ptr<Connection> Connection::FromGuest(ConnectionKey key, UniqueFd socket,
                                                  const virtio_vsock_hdr& request,
                                                  uint32_t buf_alloc, Timeouts timeouts) {
  std::unique_ptr<Connection> connection(
      new Connection(key, std::move(socket), buf_alloc, timeouts));
  connection->established_ = true;
  connection->response_due_ = true;
  connection->peer_buf_alloc_ = request.buf_alloc;
  connection->peer_fwd_cnt_ = request.fwd_cnt;
  return connection;
}

std::unique_ptr<Connection> Connection::FromHost(ConnectionKey key, UniqueFd socket,
                                                 uint32_t buf_alloc, Timeouts timeouts) {
  std::unique_ptr<Connection> connection(
      new Connection(key, std::move(socket), buf_alloc, timeouts));
  connection->request_due_ = true;
  connection->deadline_ = Clock::now() + timeouts.handshake;
  return connection;
}

uint32_t Connection::peer_credit() const {
  // Bytes the guest has been sent and not yet forwarded. A guest claiming to have forwarded
  // more than it was sent makes this wrap past its buf_alloc: no credit, never a bigger one.
  const uint32_t in_flight = sent_to_guest_ - peer_fwd_cnt_;
  return in_flight >= peer_buf_alloc_ ? 0 : peer_buf_alloc_ - in_flight;
}

uint32_t Connection::ReadyBytes() {
  if (guest_no_recv_ || host_eof_) return 0;
  int queued = 0;
  if (::ioctl(socket_.get(), FIONREAD, &queued) != 0 || queued <= 0) return 0;
  ready_seen_ = static_cast<size_t>(queued);
  return std::min(static_cast<uint32_t>(queued), peer_credit());
}

uint64_t Connection::TakeForwarded() { return std::exchange(forwarded_, 0); }

Connection::Verdict Connection::OnGuestPacket(const virtio_vsock_hdr& header,
                                              absl::Span<const iovec> payload) {
  // Every packet carries the sender's credit (5.10.6.3): a change may unblock our data, so a
  // new CREDIT_REQUEST may be sent if it does not.
  if (header.buf_alloc != peer_buf_alloc_ || header.fwd_cnt != peer_fwd_cnt_) {
    credit_requested_ = false;
  }
  peer_buf_alloc_ = header.buf_alloc;
  peer_fwd_cnt_ = header.fwd_cnt;

  switch (header.op) {
    case VIRTIO_VSOCK_OP_RST:
      return Verdict::kClose;

    case VIRTIO_VSOCK_OP_RESPONSE: {
      // Only as the answer to a REQUEST we sent.
      if (established_ || request_due_) return Verdict::kReset;
      established_ = true;
      deadline_.reset();
      // Firecracker's acknowledgement to the host program: "OK <host port>\n". The socket is
      // fresh and nothing was written to it yet, so a short write means it is broken.
      const std::string ok = absl::StrCat("OK ", key_.local_port, "\n");
      ssize_t done;
      do {
        done = ::send(socket_.get(), ok.data(), ok.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      } while (done < 0 && errno == EINTR);
      if (done != static_cast<ssize_t>(ok.size())) return Verdict::kReset;
      return Verdict::kKeep;
    }

    case VIRTIO_VSOCK_OP_RW: {
      if (!established_ || guest_no_send_ || host_write_shut_) return Verdict::kReset;
      const uint32_t len = header.len;
      if (len == 0) return Verdict::kKeep;
      // The guest may send at most buf_alloc less what it sent since the fwd_cnt we last told
      // it (5.10.6.3.1: "VIRTIO_VSOCK_OP_RW data packets MUST only be transmitted when the
      // peer has sufficient free buffer space for the payload"). The guest cannot know a
      // newer fwd_cnt than the last we sent, so a conforming guest never fails this, and
      // since what we buffer is at most that, the buffer never exceeds buf_alloc.
      const uint32_t unacknowledged = guest_sent_ - last_fwd_cnt_sent_;
      if (uint64_t{unacknowledged} + len > buf_alloc_) return Verdict::kReset;
      if (!Forward(payload, len)) return Verdict::kReset;
      MaybeDueCreditUpdate();
      return Verdict::kKeep;
    }

    case VIRTIO_VSOCK_OP_SHUTDOWN: {
      if (!established_) return Verdict::kReset;
      // The flags only accumulate (5.10.6.5: "These hints are permanent once sent and
      // successive packets with bits clear do not reset them").
      if ((header.flags & VIRTIO_VSOCK_SHUTDOWN_RCV) != 0 && !guest_no_recv_) {
        guest_no_recv_ = true;
        data_waiting_ = false;
        // The host program's further writes fail (EPIPE), as the guest will take no more.
        ::shutdown(socket_.get(), SHUT_RD);
      }
      if ((header.flags & VIRTIO_VSOCK_SHUTDOWN_SEND) != 0) guest_no_send_ = true;
      MaybeShutHostWrite();
      // Closed both ways with bytes still waiting for the host: it has timeouts.shutdown to
      // take them.
      if (guest_no_send_ && guest_no_recv_ && !tx_.empty() && !deadline_) {
        deadline_ = Clock::now() + timeouts_.shutdown;
      }
      MaybeFinish();
      return Verdict::kKeep;
    }

    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
      return Verdict::kKeep;  // the credit was taken above

    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
      credit_update_due_ = true;
      return Verdict::kKeep;

    default:
      // A second REQUEST for a live connection, INVALID or an unknown op.
      return Verdict::kReset;
  }
}

Connection::Verdict Connection::OnSocketEvents(uint32_t events) {
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readable_ = true;
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) writable_ = true;
  // Both directions are closed (the host program closed its socket): nothing more reaches it.
  if ((events & EPOLLHUP) != 0) host_hup_ = true;
  if (!tx_.empty() && writable_ && !Flush()) return Verdict::kReset;
  MaybeShutHostWrite();
  MaybeDueCreditUpdate();
  MaybeFinish();
  return Verdict::kKeep;
}

Connection::Verdict Connection::GrowSendBuffer(uint32_t bytes) {
  const int size = static_cast<int>(bytes);
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0) {
    return Verdict::kKeep;
  }
  large_send_buffer_ = true;
  writable_ = true;
  if (!tx_.empty() && !Flush()) return Verdict::kReset;
  MaybeShutHostWrite();
  MaybeDueCreditUpdate();
  return Verdict::kKeep;
}

Connection::Op Connection::NextOp() {
  if (finished_) return Op::kNone;
  if (rst_due_) return Op::kRst;
  if (request_due_) return Op::kRequest;
  if (!established_) return Op::kNone;  // waiting for the guest's RESPONSE
  if (response_due_) return Op::kResponse;
  if (!guest_no_recv_ && !host_eof_) {
    if (!data_waiting_ && readable_) Peek();
    if (rst_due_) return Op::kRst;
    if (data_waiting_) {
      if (peer_credit() > 0) return Op::kRw;
      // Ask once; a guest packet that changes the credit allows asking again.
      if (!credit_requested_) return Op::kCreditRequest;
    }
  }
  if (shutdown_due_ != 0) return Op::kShutdown;
  if (credit_update_due_) return Op::kCreditUpdate;
  return Op::kNone;
}

void Connection::Peek() {
  uint8_t byte;
  ssize_t got;
  do {
    got = ::recv(socket_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (got < 0 && errno == EINTR);
  if (got > 0) {
    data_waiting_ = true;
  } else if (got == 0) {
    // EOF: the host program will send no more (it shut its write side or closed).
    host_eof_ = true;
    readable_ = false;
    shutdown_due_ |= VIRTIO_VSOCK_SHUTDOWN_SEND;
    if (host_hup_) shutdown_due_ |= VIRTIO_VSOCK_SHUTDOWN_RCV;
  } else if (WouldBlock(errno)) {
    readable_ = false;
  } else {
    rst_due_ = true;  // ECONNRESET and the like
  }
}

Connection::Packet Connection::Produce(Op op, absl::Span<const iovec> payload) {
  Packet packet;
  packet.op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;  // what a packet with nothing else to say is
  switch (op) {
    case Op::kRst:
      packet.op = VIRTIO_VSOCK_OP_RST;
      finished_ = true;
      break;
    case Op::kRequest:
      request_due_ = false;
      packet.op = VIRTIO_VSOCK_OP_REQUEST;
      break;
    case Op::kResponse:
      response_due_ = false;
      packet.op = VIRTIO_VSOCK_OP_RESPONSE;
      break;
    case Op::kRw: {
      const std::optional<size_t> ready_seen = std::exchange(ready_seen_, std::nullopt);
      const size_t limit = std::min<size_t>(
          {IovecBytes(payload), size_t{peer_credit()}, size_t{kMaxPayload}});
      if (limit == 0 || !data_waiting_ || guest_no_recv_) break;  // no room: CREDIT_UPDATE
      std::vector<iovec> room = Truncate(payload, limit);
      msghdr message = {};
      message.msg_iov = room.data();
      message.msg_iovlen = room.size();
      ssize_t got;
      do {
        got = ::recvmsg(socket_.get(), &message, MSG_DONTWAIT);
      } while (got < 0 && errno == EINTR);
      // A read that filled its room most likely left bytes behind, unless it took all that
      // ReadyBytes saw: the next packet then reads without peeking first (a peek per packet
      // was half of this path's syscalls). After a short read, or one that took the whole
      // backlog, the socket is empty or nearly: the next NextOp peeks.
      data_waiting_ = got > 0 && static_cast<size_t>(got) == limit &&
                      (!ready_seen || static_cast<size_t>(got) < *ready_seen);
      if (got > 0) {
        packet.op = VIRTIO_VSOCK_OP_RW;
        packet.len = static_cast<uint32_t>(got);
        sent_to_guest_ += packet.len;
      } else if (got == 0) {
        host_eof_ = true;
        readable_ = false;
        shutdown_due_ |= VIRTIO_VSOCK_SHUTDOWN_SEND;
        if (host_hup_) shutdown_due_ |= VIRTIO_VSOCK_SHUTDOWN_RCV;
        packet.op = VIRTIO_VSOCK_OP_SHUTDOWN;
        packet.flags = shutdown_sent_ | shutdown_due_;
        shutdown_sent_ |= shutdown_due_;
        shutdown_due_ = 0;
      } else if (WouldBlock(errno)) {
        readable_ = false;
      } else {
        packet.op = VIRTIO_VSOCK_OP_RST;
        finished_ = true;
      }
      break;
    }
    case Op::kShutdown:
      packet.op = VIRTIO_VSOCK_OP_SHUTDOWN;
      packet.flags = shutdown_sent_ | shutdown_due_;
      shutdown_sent_ |= shutdown_due_;
      shutdown_due_ = 0;
      break;
    case Op::kCreditRequest:
      credit_requested_ = true;
      packet.op = VIRTIO_VSOCK_OP_CREDIT_REQUEST;
      break;
    case Op::kCreditUpdate:
    case Op::kNone:
      break;
  }
  // Every packet tells the guest our fwd_cnt: no separate update is due any more.
  last_fwd_cnt_sent_ = fwd_cnt_;
  credit_update_due_ = false;
  MaybeFinish();
  return packet;
}

bool Connection::Forward(absl::Span<const iovec> payload, uint32_t len) {
  size_t sent = 0;
  // Bytes already waiting go first: only an empty buffer lets new ones straight through.
  if (tx_.empty() && writable_) {
    msghdr message = {};
    message.msg_iov = const_cast<iovec*>(payload.data());
    message.msg_iovlen = payload.size();
    ssize_t done;
    do {
      done = ::sendmsg(socket_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (done < 0 && errno == EINTR);
    if (done < 0) {
      if (!WouldBlock(errno)) return false;
      writable_ = false;
    } else {
      sent = static_cast<size_t>(done);
      if (sent < len) writable_ = false;
    }
  }
  // Fits: the credit check bounds what is unacknowledged, which includes the buffer.
  if (sent < len && !tx_.Append(payload, sent)) return false;
  fwd_cnt_ += static_cast<uint32_t>(sent);
  forwarded_ += sent;
  guest_sent_ += len;
  return true;
}

bool Connection::Flush() {
  absl::StatusOr<size_t> sent = tx_.FlushTo(socket_.get());
  if (!sent.ok()) return false;
  fwd_cnt_ += static_cast<uint32_t>(*sent);
  forwarded_ += *sent;
  if (!tx_.empty()) writable_ = false;
  return true;
}

void Connection::MaybeShutHostWrite() {
  if (guest_no_send_ && tx_.empty() && !host_write_shut_) {
    // The host program reads EOF once it has every byte the guest sent.
    ::shutdown(socket_.get(), SHUT_WR);
    host_write_shut_ = true;
  }
}

void Connection::MaybeDueCreditUpdate() {
  if (guest_no_send_ || fwd_cnt_ == last_fwd_cnt_sent_) return;
  // The free space the guest believes we have: buf_alloc less what it sent since the last
  // fwd_cnt it heard of.
  const uint32_t seen_used = guest_sent_ - last_fwd_cnt_sent_;
  const uint32_t seen_free = seen_used >= buf_alloc_ ? 0 : buf_alloc_ - seen_used;
  if (seen_free < buf_alloc_ / 2) credit_update_due_ = true;
}

void Connection::MaybeFinish() {
  if (!established_ || rst_due_ || finished_) return;
  // Guest to host is over when the guest will send no more and the host has every byte, or
  // when the host can take nothing more; host to guest when the guest will receive no more,
  // or when the host's EOF has been passed on.
  const bool to_host_done = (guest_no_send_ && tx_.empty()) || host_hup_;
  const bool to_guest_done =
      guest_no_recv_ || (host_eof_ && (shutdown_sent_ & VIRTIO_VSOCK_SHUTDOWN_SEND) != 0);
  if (to_host_done && to_guest_done) {
    rst_due_ = true;
    deadline_.reset();
  }
}

}  // namespace vmmd::virtio::vsock
