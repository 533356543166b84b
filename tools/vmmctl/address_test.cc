#include "tools/vmmctl/address.h"

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmctl {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

TEST(ResolveAddressTest, DefaultIsVmmdsSocket) {
  ASSERT_OK_AND_ASSIGN(Address address, ResolveAddress(std::nullopt, nullptr));
  EXPECT_EQ(address.address, "unix:/run/vmmd/vmmd.sock");
  EXPECT_EQ(address.grpc_target, "unix:/run/vmmd/vmmd.sock");
  EXPECT_EQ(address.unix_path, "/run/vmmd/vmmd.sock");
}

TEST(ResolveAddressTest, EmptyEnvironmentVariableMeansDefault) {
  ASSERT_OK_AND_ASSIGN(Address address, ResolveAddress(std::nullopt, ""));
  EXPECT_EQ(address.grpc_target, "unix:/run/vmmd/vmmd.sock");
}

TEST(ResolveAddressTest, EnvironmentVariableOverridesDefault) {
  ASSERT_OK_AND_ASSIGN(Address address, ResolveAddress(std::nullopt, "unix:/tmp/v.sock"));
  EXPECT_EQ(address.grpc_target, "unix:/tmp/v.sock");
  EXPECT_EQ(address.source, "VMMD_ADDRESS");
}

TEST(ResolveAddressTest, FlagOverridesEnvironmentVariable) {
  ASSERT_OK_AND_ASSIGN(Address address,
                       ResolveAddress(std::string("tcp:127.0.0.1:7070"), "unix:/tmp/v.sock"));
  EXPECT_EQ(address.grpc_target, "127.0.0.1:7070");
  EXPECT_EQ(address.unix_path, "");
  EXPECT_EQ(address.source, "--address");
}

TEST(ParseAddressTest, TcpPrefixIsStripped) {
  ASSERT_OK_AND_ASSIGN(Address v4, ParseAddress("tcp:localhost:50051", "--address"));
  EXPECT_EQ(v4.grpc_target, "localhost:50051");
  ASSERT_OK_AND_ASSIGN(Address v6, ParseAddress("tcp:[::1]:50051", "--address"));
  EXPECT_EQ(v6.grpc_target, "[::1]:50051");
}

TEST(ParseAddressTest, UnixTripleSlashForm) {
  ASSERT_OK_AND_ASSIGN(Address address, ParseAddress("unix:///run/x.sock", "--address"));
  EXPECT_EQ(address.grpc_target, "unix:/run/x.sock");
  EXPECT_EQ(address.unix_path, "/run/x.sock");
}

TEST(ParseAddressTest, RejectsOtherForms) {
  EXPECT_THAT(ParseAddress("127.0.0.1:7070", "--address"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--address '127.0.0.1:7070': unknown address form")));
  EXPECT_THAT(ParseAddress("unix:", "VMMD_ADDRESS"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("VMMD_ADDRESS 'unix:'")));
  EXPECT_THAT(ParseAddress("tcp:127.0.0.1", "--address"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected HOST:PORT")));
  EXPECT_THAT(ParseAddress("tcp:127.0.0.1:http", "--address"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a port number")));
  EXPECT_THAT(ParseAddress("tcp:127.0.0.1:99999", "--address"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'99999'")));
  EXPECT_THAT(ParseAddress("tcp::80", "--address"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
}

TEST(ResolveAddressTest, BadEnvironmentVariableIsNamed) {
  EXPECT_THAT(ResolveAddress(std::nullopt, "localhost:1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("VMMD_ADDRESS")));
}

}  // namespace
}  // namespace vmmctl
