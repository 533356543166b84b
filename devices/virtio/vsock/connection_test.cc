#include "devices/virtio/vsock/connection.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "devices/virtio/vsock/packet.h"
#include "gtest/gtest.h"

namespace vmmd::virtio::vsock {
namespace {

using Op = Connection::Op;
using Verdict = Connection::Verdict;

constexpr ConnectionKey kKey{52, 1000};
constexpr uint32_t kBufAlloc = 4096;

virtio_vsock_hdr Header(uint16_t op, uint32_t len = 0, uint32_t buf_alloc = 1 << 20,
                        uint32_t fwd_cnt = 0, uint32_t flags = 0) {
  virtio_vsock_hdr header;
  std::memset(&header, 0, sizeof(header));
  header.src_cid = 3;
  header.dst_cid = kHostCid;
  header.src_port = kKey.peer_port;
  header.dst_port = kKey.local_port;
  header.len = len;
  header.type = VIRTIO_VSOCK_TYPE_STREAM;
  header.op = op;
  header.flags = flags;
  header.buf_alloc = buf_alloc;
  header.fwd_cnt = fwd_cnt;
  return header;
}

std::vector<iovec> Iov(std::string& s) { return {iovec{s.data(), s.size()}}; }

std::string Drain(int fd) {
  std::string out;
  char buffer[65536];
  while (true) {
    const ssize_t got = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (got <= 0) break;
    out.append(buffer, static_cast<size_t>(got));
  }
  return out;
}

bool SeesEof(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
}

class ConnectionTest : public ::testing::Test {
 protected:
  // A socketpair: the device's end (non-blocking) goes to the connection, the host
  // program's end stays here.
  UniqueFd DeviceEnd() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    host_.Reset(fds[1]);
    return UniqueFd(fds[0]);
  }

  void FromGuest(uint32_t guest_buf_alloc = 1 << 20, uint32_t buf_alloc = kBufAlloc) {
    connection_ = Connection::FromGuest(kKey, DeviceEnd(),
                                        Header(VIRTIO_VSOCK_OP_REQUEST, 0, guest_buf_alloc),
                                        buf_alloc, {});
    ASSERT_EQ(connection_->NextOp(), Op::kResponse);
    EXPECT_EQ(Produce(Op::kResponse).op, VIRTIO_VSOCK_OP_RESPONSE);
  }

  Connection::Packet Produce(Op op, size_t room = 65536) {
    payload_.assign(room, '\0');
    std::vector<iovec> iov = {iovec{payload_.data(), payload_.size()}};
    Connection::Packet packet = connection_->Produce(op, iov);
    payload_.resize(packet.op == VIRTIO_VSOCK_OP_RW ? packet.len : 0);
    return packet;
  }

  Verdict Guest(uint16_t op, std::string payload = "", uint32_t buf_alloc = 1 << 20,
                uint32_t fwd_cnt = 0, uint32_t flags = 0) {
    std::vector<iovec> iov;
    if (!payload.empty()) iov = Iov(payload);
    return connection_->OnGuestPacket(
        Header(op, static_cast<uint32_t>(payload.size()), buf_alloc, fwd_cnt, flags), iov);
  }

  UniqueFd host_;
  std::unique_ptr<Connection> connection_;
  std::string payload_;
};

TEST_F(ConnectionTest, AGuestConnectionIsEstablishedWithAResponseDue) {
  connection_ = Connection::FromGuest(kKey, DeviceEnd(), Header(VIRTIO_VSOCK_OP_REQUEST), kBufAlloc, {});
  EXPECT_TRUE(connection_->established());
  EXPECT_FALSE(connection_->deadline());
  EXPECT_EQ(connection_->NextOp(), Op::kResponse);
  EXPECT_EQ(Produce(Op::kResponse).op, VIRTIO_VSOCK_OP_RESPONSE);
  EXPECT_EQ(connection_->NextOp(), Op::kNone) << "no data from the host yet";
  EXPECT_EQ(connection_->credit().buf_alloc, kBufAlloc);
  EXPECT_EQ(connection_->credit().fwd_cnt, 0u);
}

TEST_F(ConnectionTest, AHostConnectionSendsRequestAndSaysOkAtTheResponse) {
  // A RESPONSE to a REQUEST not sent yet is refused.
  {
    auto early = Connection::FromHost(ConnectionKey{1u << 30, 52}, DeviceEnd(), kBufAlloc, {});
    std::vector<iovec> none;
    EXPECT_EQ(early->OnGuestPacket(Header(VIRTIO_VSOCK_OP_RESPONSE), none), Verdict::kReset);
  }
  connection_ = Connection::FromHost(ConnectionKey{1u << 30, 52}, DeviceEnd(), kBufAlloc, {});
  EXPECT_FALSE(connection_->established());
  EXPECT_TRUE(connection_->deadline()) << "the guest has a time to answer";
  ASSERT_EQ(connection_->NextOp(), Op::kRequest);
  EXPECT_EQ(Produce(Op::kRequest).op, VIRTIO_VSOCK_OP_REQUEST);
  EXPECT_EQ(connection_->NextOp(), Op::kNone) << "waiting for the guest";
  // Data from the host waits until the guest accepted.
  ASSERT_EQ(::send(host_.get(), "early", 5, 0), 5);
  EXPECT_EQ(connection_->NextOp(), Op::kNone);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "x"), Verdict::kReset) << "RW before RESPONSE";
}

TEST_F(ConnectionTest, ResponseWritesOkLineThenDataFlows) {
  connection_ = Connection::FromHost(ConnectionKey{1073741825, 52}, DeviceEnd(), kBufAlloc, {});
  ASSERT_EQ(::send(host_.get(), "early", 5, 0), 5);
  Produce(Op::kRequest);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RESPONSE), Verdict::kKeep);
  EXPECT_TRUE(connection_->established());
  EXPECT_FALSE(connection_->deadline());
  EXPECT_EQ(Drain(host_.get()), "OK 1073741825\n");
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw).len, 5u);
  EXPECT_EQ(payload_, "early");
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RESPONSE), Verdict::kReset) << "a second RESPONSE";
}

TEST_F(ConnectionTest, GuestDataGoesToTheSocketAndCountsInFwdCnt) {
  FromGuest();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "hello"), Verdict::kKeep);
  EXPECT_EQ(Drain(host_.get()), "hello");
  EXPECT_EQ(connection_->credit().fwd_cnt, 5u);
  EXPECT_EQ(connection_->TakeForwarded(), 5u);
  EXPECT_EQ(connection_->TakeForwarded(), 0u);
  EXPECT_EQ(connection_->buffered(), 0u);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, ""), Verdict::kKeep) << "an empty RW is nothing";
}

TEST_F(ConnectionTest, HostDataNeverExceedsTheGuestsCredit) {
  FromGuest(/*guest_buf_alloc=*/10);
  ASSERT_EQ(::send(host_.get(), "0123456789abcdef", 16, 0), 16);
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  Connection::Packet packet = Produce(Op::kRw);
  EXPECT_EQ(packet.len, 10u);
  EXPECT_EQ(payload_, "0123456789");
  EXPECT_EQ(connection_->peer_credit(), 0u);
  // Out of credit with data waiting: ask once, then wait.
  ASSERT_EQ(connection_->NextOp(), Op::kCreditRequest);
  EXPECT_EQ(Produce(Op::kCreditRequest).op, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
  EXPECT_EQ(connection_->NextOp(), Op::kNone);
  // The guest forwarded 4: 4 more may come.
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_CREDIT_UPDATE, "", 10, 4), Verdict::kKeep);
  EXPECT_EQ(connection_->peer_credit(), 4u);
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw).len, 4u);
  EXPECT_EQ(payload_, "abcd");
  // And the room in the RX buffer limits too.
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_CREDIT_UPDATE, "", 10, 14), Verdict::kKeep);
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw, 1).len, 1u);
  EXPECT_EQ(payload_, "e");
  // No room at all: a credit update, data left for the next buffer.
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw, 0).op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw).len, 1u);
  EXPECT_EQ(payload_, "f");
}

TEST_F(ConnectionTest, AGuestClaimingMoreForwardedThanSentGetsNoCredit) {
  FromGuest(/*guest_buf_alloc=*/100);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_CREDIT_UPDATE, "", 100, 50), Verdict::kKeep);
  EXPECT_EQ(connection_->peer_credit(), 0u) << "fwd_cnt 50 of 0 bytes sent";
}

TEST_F(ConnectionTest, AGuestSendingPastItsCreditIsReset) {
  FromGuest();
  // Exactly the credit: fine, even with the host not reading (it all fits a socket anyway).
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, std::string(kBufAlloc, 'a')), Verdict::kKeep);
  // The host took it all, but the guest was never told: one more byte is past its credit.
  EXPECT_EQ(Drain(host_.get()).size(), kBufAlloc);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "b"), Verdict::kReset);
}

TEST_F(ConnectionTest, CreditFreedIsToldAndRenewsTheGuestsCredit) {
  FromGuest();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, std::string(kBufAlloc / 2 - 1, 'a')), Verdict::kKeep);
  EXPECT_EQ(connection_->NextOp(), Op::kNone) << "the guest still sees more than half free";
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, std::string(2, 'a')), Verdict::kKeep);
  ASSERT_EQ(connection_->NextOp(), Op::kCreditUpdate);
  Connection::Packet packet = Produce(Op::kCreditUpdate);
  EXPECT_EQ(packet.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
  EXPECT_EQ(connection_->credit().fwd_cnt, kBufAlloc / 2 + 1);
  // Told: a full buffer's worth may come again.
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, std::string(kBufAlloc, 'b')), Verdict::kKeep);
  EXPECT_EQ(Drain(host_.get()).size(), kBufAlloc / 2 + 1 + kBufAlloc);
}

TEST_F(ConnectionTest, ACreditRequestIsAnswered) {
  FromGuest();
  EXPECT_EQ(connection_->NextOp(), Op::kNone);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_CREDIT_REQUEST), Verdict::kKeep);
  EXPECT_EQ(connection_->NextOp(), Op::kCreditUpdate);
  Produce(Op::kCreditUpdate);
  EXPECT_EQ(connection_->NextOp(), Op::kNone);
}

TEST_F(ConnectionTest, BytesTheSocketCannotTakeWaitInTheBufferAndFlushInOrder) {
  FromGuest(1 << 20, /*buf_alloc=*/256 * 1024);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(connection_->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  std::string sent;
  for (int i = 0; i < 4; ++i) {
    std::string chunk(60000, static_cast<char>('a' + i));
    sent += chunk;
    ASSERT_EQ(Guest(VIRTIO_VSOCK_OP_RW, chunk), Verdict::kKeep);
  }
  EXPECT_GT(connection_->buffered(), 0u);
  EXPECT_LE(connection_->buffered(), 256u * 1024);
  std::string received;
  for (int round = 0; round < 1000 && received.size() < sent.size(); ++round) {
    received += Drain(host_.get());
    ASSERT_EQ(connection_->OnSocketEvents(EPOLLOUT), Verdict::kKeep);
  }
  received += Drain(host_.get());
  EXPECT_EQ(received, sent);
  EXPECT_EQ(connection_->buffered(), 0u);
  EXPECT_EQ(connection_->credit().fwd_cnt, sent.size());
}

TEST_F(ConnectionTest, GuestShutsSendThenHostFinishes) {
  FromGuest();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "last"), Verdict::kKeep);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_SHUTDOWN, "", 1 << 20, 0, VIRTIO_VSOCK_SHUTDOWN_SEND),
            Verdict::kKeep);
  EXPECT_EQ(Drain(host_.get()), "last");
  EXPECT_TRUE(SeesEof(host_.get())) << "the host program reads EOF";
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "more"), Verdict::kReset) << "data after SHUTDOWN(SEND)";
}

TEST_F(ConnectionTest, HostCanStillSendAfterTheGuestShutsSend) {
  FromGuest();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_SHUTDOWN, "", 1 << 20, 0, VIRTIO_VSOCK_SHUTDOWN_SEND),
            Verdict::kKeep);
  ASSERT_EQ(::send(host_.get(), "reply", 5, 0), 5);
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw).len, 5u);
  EXPECT_EQ(payload_, "reply");
  // The host closes its side too: SHUTDOWN(SEND) to the guest, then RST ends it.
  ASSERT_EQ(::shutdown(host_.get(), SHUT_WR), 0);
  EXPECT_EQ(connection_->OnSocketEvents(EPOLLIN | EPOLLRDHUP), Verdict::kKeep);
  ASSERT_EQ(connection_->NextOp(), Op::kShutdown);
  Connection::Packet shutdown = Produce(Op::kShutdown);
  EXPECT_EQ(shutdown.op, VIRTIO_VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(shutdown.flags, static_cast<uint32_t>(VIRTIO_VSOCK_SHUTDOWN_SEND));
  ASSERT_EQ(connection_->NextOp(), Op::kRst);
  EXPECT_EQ(Produce(Op::kRst).op, VIRTIO_VSOCK_OP_RST);
  EXPECT_TRUE(connection_->finished());
}

TEST_F(ConnectionTest, HostHalfCloseLetsTheGuestKeepSending) {
  FromGuest();
  ASSERT_EQ(::send(host_.get(), "bye", 3, 0), 3);
  ASSERT_EQ(::shutdown(host_.get(), SHUT_WR), 0);
  ASSERT_EQ(connection_->NextOp(), Op::kRw);
  EXPECT_EQ(Produce(Op::kRw).len, 3u);
  ASSERT_EQ(connection_->NextOp(), Op::kShutdown);
  EXPECT_EQ(Produce(Op::kShutdown).flags, static_cast<uint32_t>(VIRTIO_VSOCK_SHUTDOWN_SEND));
  EXPECT_EQ(connection_->NextOp(), Op::kNone) << "the guest may still send";
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "still"), Verdict::kKeep);
  EXPECT_EQ(Drain(host_.get()), "still");
  // The guest closes: RST, and the host program reads EOF.
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_SHUTDOWN, "", 1 << 20, 0,
                  VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV),
            Verdict::kKeep);
  EXPECT_TRUE(SeesEof(host_.get()));
  EXPECT_EQ(connection_->NextOp(), Op::kRst);
}

TEST_F(ConnectionTest, HostClosingEverythingIsShutdownBothThenRst) {
  FromGuest();
  ASSERT_EQ(::send(host_.get(), "end", 3, 0), 3);
  host_.Reset();
  EXPECT_EQ(connection_->OnSocketEvents(EPOLLIN | EPOLLRDHUP | EPOLLHUP), Verdict::kKeep);
  ASSERT_EQ(connection_->NextOp(), Op::kRw) << "data before the close still goes";
  EXPECT_EQ(Produce(Op::kRw).len, 3u);
  ASSERT_EQ(connection_->NextOp(), Op::kShutdown);
  EXPECT_EQ(Produce(Op::kShutdown).flags,
            static_cast<uint32_t>(VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV));
  EXPECT_EQ(connection_->NextOp(), Op::kRst);
}

TEST_F(ConnectionTest, GuestShuttingBothWaysWithNothingBufferedEndsWithRst) {
  FromGuest();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_SHUTDOWN, "", 1 << 20, 0,
                  VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV),
            Verdict::kKeep);
  EXPECT_EQ(connection_->NextOp(), Op::kRst);
  EXPECT_TRUE(SeesEof(host_.get()));
  // The guest will receive no more: the host program's writes fail.
  EXPECT_LT(::send(host_.get(), "x", 1, MSG_NOSIGNAL), 0);
}

TEST_F(ConnectionTest, GuestRstClosesAndOtherOpsReset) {
  FromGuest();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RST), Verdict::kClose);
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_REQUEST), Verdict::kReset) << "REQUEST on a live connection";
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_INVALID), Verdict::kReset);
  EXPECT_EQ(Guest(99), Verdict::kReset);
}

TEST_F(ConnectionTest, ASocketErrorIsReset) {
  FromGuest();
  host_.Reset();
  EXPECT_EQ(Guest(VIRTIO_VSOCK_OP_RW, "x"), Verdict::kReset) << "EPIPE, and no SIGPIPE";
}

}  // namespace
}  // namespace vmmd::virtio::vsock
