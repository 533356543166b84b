#include "daemon/metrics/metrics_http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/linux/host_command.h"

namespace vmmd::metrics {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::CommandResult;
using ::vmmd::testing::RunCommand;

// In a directory of its own under /tmp: a socket path must fit sun_path's 108 bytes, which
// Bazel's $TEST_TMPDIR may not.
std::string SocketPath(const char* name) {
  static const std::string dir = [] {
    char pattern[] = "/tmp/metrics-test-XXXXXX";
    return std::string(::mkdtemp(pattern));
  }();
  return absl::StrCat(dir, "/", name, ".sock");
}

ListenAddress UnixAddress(const std::string& path) {
  ListenAddress address;
  address.is_unix = true;
  address.is_loopback = true;
  address.unix_path = path;
  return address;
}

// curl over the socket: the body, then a line with the status and content type.
CommandResult Curl(const std::string& socket, const std::string& path, const char* method = "GET") {
  return RunCommand({"/usr/bin/curl", "-sS", "-X", method, "-w", "\n%{http_code} %{content_type}",
                     "--unix-socket", socket, absl::StrCat("http://localhost", path)});
}

// A client that connected and then sent nothing.
UniqueFd IdleClient(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  return fd;
}

TEST(MetricsHttpServerTest, ServesThePageAtMetricsOnAUnixSocket) {
  const std::string path = SocketPath("metrics");
  std::atomic<int> renders{0};
  auto server = MetricsHttpServer::Start(UnixAddress(path), [&renders] {
    return absl::StrCat("vmmd_scrapes ", ++renders, "\n");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->endpoint(), "unix:" + path);
  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);

  CommandResult first = Curl(path, "/metrics");
  EXPECT_EQ(first.out, "vmmd_scrapes 1\n\n200 text/plain; version=0.0.4; charset=utf-8") << first.err;
  EXPECT_EQ(Curl(path, "/metrics").out, "vmmd_scrapes 2\n\n200 text/plain; version=0.0.4; charset=utf-8")
      << "rendered again for each scrape";
  EXPECT_THAT(Curl(path, "/").out, HasSubstr("\n404 "));
  EXPECT_THAT(Curl(path, "/metrics", "POST").out, HasSubstr("\n405 "));
  EXPECT_THAT(Curl(path, "/metrics", "DELETE").out, HasSubstr("\n405 "));
  EXPECT_EQ(renders.load(), 2) << "only GET /metrics renders";

  server->reset();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed";
}

TEST(MetricsHttpServerTest, IdleClientsDoNotStopOthersBeingServed) {
  const std::string path = SocketPath("idle");
  auto server = MetricsHttpServer::Start(UnixAddress(path), [] { return std::string("x 1\n"); });
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<UniqueFd> idle;
  for (unsigned i = 0; i + 1 < MetricsHttpServer::kMaxConnections; ++i) idle.push_back(IdleClient(path));
  EXPECT_THAT(Curl(path, "/metrics").out, HasSubstr("\n200 "));
}

TEST(MetricsHttpServerTest, ReplacesAStaleSocketButNotOtherFiles) {
  // A daemon that died leaves its socket file behind, nobody listening on it.
  const std::string path = SocketPath("stale");
  UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  stale.Reset();
  auto second = MetricsHttpServer::Start(UnixAddress(path), [] { return std::string("y 2\n"); });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Curl(path, "/metrics").out, HasSubstr("y 2\n"));
  second->reset();

  const std::string regular = SocketPath("regular");
  ASSERT_TRUE(::vmmd::testing::WriteFile(regular, "not a socket"));
  auto refused = MetricsHttpServer::Start(UnixAddress(regular), [] { return std::string(); });
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr(regular));
  EXPECT_EQ(::access(regular.c_str(), F_OK), 0) << "a file that is not a socket stays";
}

TEST(MetricsHttpServerTest, RefusesTcpBeyondLoopback) {
  ListenAddress address;
  address.is_unix = false;
  address.is_loopback = false;
  address.grpc_target = "0.0.0.0:9464";
  auto server = MetricsHttpServer::Start(address, [] { return std::string(); });
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("--metrics_listen tcp:0.0.0.0:9464"));
}

TEST(MetricsHttpServerTest, ListensOnLoopbackTcpAndSaysWhichPort) {
  ListenAddress address;
  address.is_unix = false;
  address.is_loopback = true;
  address.grpc_target = "127.0.0.1:0";  // any free port: the endpoint says which
  auto server = MetricsHttpServer::Start(address, [] { return std::string("z 3\n"); });
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string endpoint = (*server)->endpoint();
  ASSERT_TRUE(absl::StartsWith(endpoint, "tcp:127.0.0.1:")) << endpoint;
  const CommandResult result = RunCommand(
      {"/usr/bin/curl", "-sS", absl::StrCat("http://", endpoint.substr(4), "/metrics")});
  EXPECT_EQ(result.out, "z 3\n") << result.err;
}

}  // namespace
}  // namespace vmmd::metrics
