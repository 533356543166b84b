#include "devices/virtio/vsock/tx_buffer.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace vmmd::virtio::vsock {
namespace {

using ::vmmd::testing::StatusIs;

iovec Iov(std::string& s) { return iovec{s.data(), s.size()}; }

struct Pair {
  UniqueFd device;  // non-blocking, what the buffer flushes to
  UniqueFd host;
};

Pair SocketPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Pair pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
  const int one = 1;
  EXPECT_EQ(::ioctl(pair.device.get(), FIONBIO, &one), 0);
  return pair;
}

std::string Drain(int fd) {
  std::string out;
  char buffer[4096];
  while (true) {
    const ssize_t got = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (got <= 0) break;
    out.append(buffer, static_cast<size_t>(got));
  }
  return out;
}

TEST(TxBufferTest, AppendsAllOrNothingUpToItsCapacity) {
  TxBuffer buffer(10);
  EXPECT_FALSE(buffer.allocated());
  std::string a = "abcd", b = "efghij", c = "k";
  std::vector<iovec> ab = {Iov(a), Iov(b)};
  EXPECT_TRUE(buffer.Append(ab, 0));
  EXPECT_EQ(buffer.size(), 10u);
  EXPECT_EQ(buffer.free(), 0u);
  std::vector<iovec> one = {Iov(c)};
  EXPECT_FALSE(buffer.Append(one, 0));
  EXPECT_EQ(buffer.size(), 10u);
  // Skipping everything appends nothing and always fits.
  EXPECT_TRUE(buffer.Append(one, 1));
}

TEST(TxBufferTest, SkipsTheBytesAlreadySent) {
  TxBuffer buffer(16);
  std::string a = "0123", b = "456789";
  std::vector<iovec> source = {Iov(a), Iov(b)};
  ASSERT_TRUE(buffer.Append(source, 6));
  Pair pair = SocketPair();
  ASSERT_OK_AND_ASSIGN(size_t sent, buffer.FlushTo(pair.device.get()));
  EXPECT_EQ(sent, 4u);
  EXPECT_EQ(Drain(pair.host.get()), "6789");
  EXPECT_TRUE(buffer.empty());
  EXPECT_FALSE(buffer.allocated()) << "a drained buffer gives its storage back";
}

TEST(TxBufferTest, WrapsWhenTheSocketTakesPart) {
  Pair pair = SocketPair();
  // Fill the socket so the next flush is partial, then keep the ring cycling.
  const int small = 4096;
  ASSERT_EQ(::setsockopt(pair.device.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  TxBuffer buffer(64 * 1024);
  std::string expected, received;
  uint8_t next = 0;
  for (int round = 0; round < 50; ++round) {
    std::string chunk(std::min<uint32_t>(buffer.free(), 7000), '\0');
    for (char& c : chunk) c = static_cast<char>(next++);
    std::vector<iovec> source = {Iov(chunk)};
    ASSERT_TRUE(buffer.Append(source, 0));
    expected += chunk;
    ASSERT_OK(buffer.FlushTo(pair.device.get()).status());
    received += Drain(pair.host.get());
  }
  while (!buffer.empty()) {
    ASSERT_OK(buffer.FlushTo(pair.device.get()).status());
    received += Drain(pair.host.get());
  }
  EXPECT_EQ(received, expected);
}

TEST(TxBufferTest, AClosedPeerIsAnErrorNotSigpipe) {
  Pair pair = SocketPair();
  pair.host.Reset();
  TxBuffer buffer(8);
  std::string bytes = "abc";
  std::vector<iovec> source = {Iov(bytes)};
  ASSERT_TRUE(buffer.Append(source, 0));
  EXPECT_THAT(buffer.FlushTo(pair.device.get()),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("sendmsg")));
  EXPECT_EQ(buffer.size(), 3u) << "the bytes stay buffered";
}

}  // namespace
}  // namespace vmmd::virtio::vsock
