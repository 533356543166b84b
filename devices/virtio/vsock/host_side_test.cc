// The host side's pieces: Unix sockets (listen, connect, accept) and the CONNECT line.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/vsock/connect_command.h"
#include "devices/virtio/vsock/unix_socket.h"
#include "gtest/gtest.h"

namespace vmmd::virtio::vsock {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// A directory for sockets: $TEST_TMPDIR when its paths fit a sockaddr_un, else /tmp.
std::string SocketDir() {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string base = tmp != nullptr && std::string(tmp).size() < 60 ? tmp : "/tmp";
  std::string dir = base + "/vsock-XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr) << strerror(errno);
  return dir;
}

TEST(ConnectLineTest, ParsesConnectCommands) {
  EXPECT_EQ(ParseConnectLine("CONNECT 52\n").value_or(0), 52u);
  EXPECT_EQ(ParseConnectLine("connect 52\n").value_or(0), 52u) << "any case, as Firecracker";
  EXPECT_EQ(ParseConnectLine("Connect\t 7 \r\n").value_or(0), 7u);
  EXPECT_EQ(ParseConnectLine("CONNECT 0\n").value_or(1), 0u);
  EXPECT_EQ(ParseConnectLine("CONNECT 4294967295\n").value_or(0), 4294967295u);
}

TEST(ConnectLineTest, RefusesEverythingElse) {
  for (const char* line : {"CONNECT 52", "CONNECT\n", "CONNECT 4294967296\n", "CONNECT -1\n",
                           "CONNECT +5\n", "CONNECT 5x\n", "CONNECT 5 6\n", "LISTEN 52\n",
                           "\n", "CONNECT 00000000052\n", "GET / HTTP/1.1\r\n"}) {
    EXPECT_THAT(ParseConnectLine(line),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CONNECT <port>")))
        << line;
  }
}

struct Pair {
  UniqueFd device;  // non-blocking, read by the reader
  UniqueFd host;
};

Pair SocketPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Pair pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
  EXPECT_EQ(::fcntl(pair.device.get(), F_SETFL, O_NONBLOCK), 0);
  return pair;
}

void Send(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
}

TEST(ConnectLineReaderTest, TakesTheLineInPiecesAndNotAByteMore) {
  Pair pair = SocketPair();
  ConnectLineReader reader;
  ASSERT_OK_AND_ASSIGN(std::optional<uint32_t> port, reader.ReadFrom(pair.device.get()));
  EXPECT_FALSE(port) << "nothing sent yet";
  Send(pair.host.get(), "CONN");
  ASSERT_OK_AND_ASSIGN(port, reader.ReadFrom(pair.device.get()));
  EXPECT_FALSE(port);
  Send(pair.host.get(), "ECT 1234\nfirst data");
  ASSERT_OK_AND_ASSIGN(port, reader.ReadFrom(pair.device.get()));
  ASSERT_TRUE(port);
  EXPECT_EQ(*port, 1234u);
  // What followed the newline is still in the socket, for the guest.
  char buffer[64];
  const ssize_t got = ::recv(pair.device.get(), buffer, sizeof(buffer), 0);
  EXPECT_EQ(std::string(buffer, got > 0 ? got : 0), "first data");
}

TEST(ConnectLineReaderTest, RefusesALineThatNeverEnds) {
  Pair pair = SocketPair();
  ConnectLineReader reader;
  Send(pair.host.get(), std::string(kMaxConnectLineLength - 1, 'x'));
  ASSERT_OK_AND_ASSIGN(std::optional<uint32_t> port, reader.ReadFrom(pair.device.get()));
  EXPECT_FALSE(port) << "one byte short of the limit is still a line in progress";
  Send(pair.host.get(), "xxxxxxxx");
  EXPECT_THAT(reader.ReadFrom(pair.device.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without a newline")));
  EXPECT_EQ(reader.line().size(), kMaxConnectLineLength) << "never holds more than the limit";
}

TEST(ConnectLineReaderTest, RefusesGarbageAndAnEarlyClose) {
  {
    Pair pair = SocketPair();
    ConnectLineReader reader;
    Send(pair.host.get(), "HELLO\n");
    EXPECT_THAT(reader.ReadFrom(pair.device.get()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HELLO")));
  }
  {
    Pair pair = SocketPair();
    ConnectLineReader reader;
    Send(pair.host.get(), "CONNECT 5");
    pair.host.Reset();
    ASSERT_OK_AND_ASSIGN(std::optional<uint32_t> port, reader.ReadFrom(pair.device.get()));
    EXPECT_FALSE(port);
    EXPECT_THAT(reader.ReadFrom(pair.device.get()),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("closed")));
  }
}

TEST(UnixSocketTest, ListensConnectsAndAccepts) {
  const std::string dir = SocketDir();
  const std::string path = dir + "/v.sock";
  ASSERT_OK_AND_ASSIGN(UniqueFd listener, ListenUnix(path));
  ASSERT_OK_AND_ASSIGN(std::optional<UniqueFd> none, AcceptUnix(listener.get()));
  EXPECT_FALSE(none) << "nobody waiting: nullopt, not an error";
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectUnix(path));
  ASSERT_OK_AND_ASSIGN(std::optional<UniqueFd> accepted, AcceptUnix(listener.get()));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(::fcntl(accepted->get(), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(::fcntl(client.get(), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(::fcntl(client.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // The path is taken now.
  EXPECT_THAT(ListenUnix(path),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("bind")));
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(UnixSocketTest, ConnectingWhereNobodyListensFails) {
  const std::string dir = SocketDir();
  EXPECT_THAT(ConnectUnix(dir + "/nobody"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
  // A socket file whose listener is gone: refused.
  const std::string path = dir + "/gone";
  { ASSERT_OK(ListenUnix(path).status()); }
  EXPECT_THAT(ConnectUnix(path), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(UnixSocketTest, PathsMustFitASockaddr) {
  EXPECT_EQ(PortSocketPath("/run/v.sock", 52), "/run/v.sock_52");
  EXPECT_THAT(ListenUnix(""), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ConnectUnix("/" + std::string(kMaxUnixPathLength, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("107")));
  EXPECT_EQ(kMaxUdsPathLength + std::string("_4294967295").size(), kMaxUnixPathLength);
}

}  // namespace
}  // namespace vmmd::virtio::vsock
