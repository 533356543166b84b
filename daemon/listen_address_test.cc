// ParseListenAddress: what counts as loopback (strictly), and what is not an address at all.
#include "daemon/listen_address.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, UnixSocket) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress("unix:/run/vmmd/vmmd.sock");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_TRUE(address->is_unix);
  EXPECT_TRUE(address->is_loopback);
  EXPECT_EQ(address->unix_path, "/run/vmmd/vmmd.sock");
  EXPECT_EQ(address->grpc_target, "unix:/run/vmmd/vmmd.sock");
  EXPECT_THAT(ParseListenAddress("unix:vmmd.sock").status().message(), HasSubstr("absolute path"));
}

TEST(ListenAddressTest, LoopbackTcp) {
  for (const char* text : {"tcp:127.0.0.1:50051", "tcp:127.1.2.3:1", "tcp:localhost:65535",
                           "tcp:LocalHost:7", "tcp:[::1]:50051"}) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(text);
    ASSERT_TRUE(address.ok()) << text << ": " << address.status();
    EXPECT_FALSE(address->is_unix) << text;
    EXPECT_TRUE(address->is_loopback) << text;
  }
  EXPECT_EQ(ParseListenAddress("tcp:[::1]:50051")->grpc_target, "[::1]:50051");
}

TEST(ListenAddressTest, TcpBeyondLoopbackIsParsedAndMarked) {
  // Names that merely look like loopback are not: they resolve to whatever DNS says.
  for (const char* text : {"tcp:0.0.0.0:50051", "tcp:[::]:50051", "tcp:10.0.0.7:50051",
                           "tcp:vmm-host.example.com:50051", "tcp:127.example.com:50051",
                           "tcp:localhost.example.com:50051", "tcp:[::ffff:10.0.0.1]:1"}) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(text);
    ASSERT_TRUE(address.ok()) << text << ": " << address.status();
    EXPECT_FALSE(address->is_loopback) << text;
  }
}

TEST(ListenAddressTest, MalformedAddressesAreRefused) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"tcp:127.0.0.1", "expected tcp:HOST:PORT"},
      {"tcp:127.0.0.1:0", "the port must be a number from 1 to 65535"},
      {"tcp:127.0.0.1:65536", "the port must be a number from 1 to 65535"},
      {"tcp:127.0.0.1:+80", "the port must be a number from 1 to 65535"},
      {"tcp:127.0.0.1:http", "the port must be a number from 1 to 65535"},
      {"tcp::50051", "name the host"},
      {"tcp:::1:50051", "in brackets"},
      {"tcp:[::1:50051", "unbalanced"},
      {"tcp:[nonsense]:50051", "not an IPv6 address"},
      {"tcp:bad_name!:50051", "is not a host name or address"},
      {"http://localhost:80", "use unix:/path/to.sock or tcp:127.0.0.1:PORT"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(address.status().message(), HasSubstr(c.message)) << c.text;
  }
}

}  // namespace
}  // namespace vmmd
