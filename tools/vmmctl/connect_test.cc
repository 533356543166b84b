#include "tools/vmmctl/connect.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tools/vmmctl/address.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// A short directory under /tmp: sun_path holds 108 bytes, too few for Bazel's TEST_TMPDIR.
class ConnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/vmmctl_connect_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    directory_ = pattern;
  }
  void TearDown() override {
    ::unlink(SocketPath().c_str());
    ::rmdir(directory_.c_str());
  }
  std::string SocketPath() const { return directory_ + "/vmmd.sock"; }
  Address UnixAddress() const {
    absl::StatusOr<Address> address = ParseAddress("unix:" + SocketPath(), "--address");
    EXPECT_TRUE(address.ok());
    return *address;
  }

  std::string directory_;
};

TEST_F(ConnectTest, NoSocketSuggestsVmmdIsNotRunning) {
  EXPECT_THAT(Connect(UnixAddress(), std::nullopt, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot connect to vmmd at unix:" + SocketPath()),
                             HasSubstr("no socket at " + SocketPath()),
                             HasSubstr("is vmmd running?"))));
}

TEST_F(ConnectTest, StaleSocketFileSaysNothingListens) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, SocketPath().c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ::close(fd);  // the file stays; nobody listens
  EXPECT_THAT(Connect(UnixAddress(), std::nullopt, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("nothing listens on " + SocketPath()),
                             HasSubstr("is vmmd running?"))));
}

TEST_F(ConnectTest, NamesWhereTheAddressCameFrom) {
  absl::StatusOr<Address> address = ParseAddress("unix:" + SocketPath(), "VMMD_ADDRESS");
  ASSERT_TRUE(address.ok());
  EXPECT_THAT(Connect(*address, std::nullopt, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("(VMMD_ADDRESS)")));
}

TEST_F(ConnectTest, ConnectsToAListeningServer) {
  vmm::v1::VmmService::Service service;  // every method UNIMPLEMENTED; only the socket matters
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + SocketPath(), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      Connect(UnixAddress(), std::nullopt, absl::Seconds(10));
  ASSERT_OK(channel);
  EXPECT_EQ((*channel)->GetState(false), GRPC_CHANNEL_READY);
  server->Shutdown();
}

TEST(ConnectTcpTest, RefusedPortFails) {
  // Find a free loopback port, then leave it closed.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  const std::string text = "tcp:127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  absl::StatusOr<Address> parsed = ParseAddress(text, "--address");
  ASSERT_OK(parsed);
  EXPECT_THAT(Connect(*parsed, std::nullopt, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot connect to vmmd at " + text),
                             HasSubstr("is vmmd running?"))));
}

TEST(ConnectTcpTest, TlsToAPlaintextServerSaysTheHandshakeFailed) {
  vmm::v1::VmmService::Service service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  ASSERT_OK_AND_ASSIGN(Address address,
                       ParseAddress("tcp:127.0.0.1:" + std::to_string(port), "--address"));
  EXPECT_THAT(Connect(address, ClientTls(), absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot connect to vmmd at tcp:127.0.0.1:"),
                             HasSubstr("TLS handshake failed"), HasSubstr("[gRPC: "))));
  // The same server, plaintext: the failure above was TLS's.
  EXPECT_OK(Connect(address, std::nullopt, absl::Seconds(10)));
  server->Shutdown();
}

}  // namespace
}  // namespace vmmctl
