#include "tools/vmmctl/tls_options.h"

#include <map>
#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

class ResolveTlsOptionsTest : public ::testing::Test {
 protected:
  absl::StatusOr<TlsOptions> Resolve(const TlsFlags& flags,
                                     const std::string& address = "tcp:vmmd.example:7070") {
    absl::StatusOr<Address> parsed = ParseAddress(address, "--address");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return ResolveTlsOptions(flags, Lookup(), parsed.value_or(Address{}));
  }
  EnvironmentLookup Lookup() const {
    return [this](const char* name) -> const char* {
      auto found = environment_.find(name);
      return found == environment_.end() ? nullptr : found->second.c_str();
    };
  }

  std::map<std::string, std::string> environment_;
};

TEST_F(ResolveTlsOptionsTest, NothingSetIsPlaintext) {
  ASSERT_OK_AND_ASSIGN(TlsOptions options, Resolve({}));
  EXPECT_FALSE(options.enabled());
  // Plaintext is what a Unix socket speaks, so no TLS setting is no error there.
  ASSERT_OK_AND_ASSIGN(TlsOptions unix_options, Resolve({}, "unix:/run/vmmd/vmmd.sock"));
  EXPECT_FALSE(unix_options.enabled());
}

TEST_F(ResolveTlsOptionsTest, EachFlagAloneMeansTls) {
  TlsFlags ca;
  ca.ca_file = "ca.pem";
  ASSERT_OK_AND_ASSIGN(TlsOptions options, Resolve(ca));
  EXPECT_TRUE(options.enabled());
  EXPECT_EQ(options.ca_file.value, "ca.pem");
  EXPECT_EQ(options.ca_file.source, "--tls_ca_file");
  EXPECT_FALSE(options.cert_file.set());

  TlsFlags name;
  name.server_name = "vmmd.internal";
  ASSERT_OK_AND_ASSIGN(TlsOptions named, Resolve(name));
  EXPECT_TRUE(named.enabled());
  EXPECT_EQ(named.server_name.value, "vmmd.internal");
  EXPECT_FALSE(named.ca_file.set());  // the system's CAs
}

TEST_F(ResolveTlsOptionsTest, ClientCertificateAndKey) {
  TlsFlags flags;
  flags.ca_file = "ca.pem";
  flags.cert_file = "client.crt";
  flags.key_file = "client.key";
  ASSERT_OK_AND_ASSIGN(TlsOptions options, Resolve(flags));
  EXPECT_EQ(options.cert_file.value, "client.crt");
  EXPECT_EQ(options.cert_file.source, "--tls_cert_file");
  EXPECT_EQ(options.key_file.value, "client.key");
  EXPECT_EQ(options.key_file.source, "--tls_key_file");
}

TEST_F(ResolveTlsOptionsTest, EnvironmentFillsWhatFlagsLeaveUnset) {
  environment_ = {{"VMMD_TLS_CA_FILE", "/etc/vmmd/ca.pem"},
                  {"VMMD_TLS_SERVER_NAME", "vmmd.internal"},
                  {"VMMD_TLS_CERT_FILE", "/etc/vmmd/client.crt"},
                  {"VMMD_TLS_KEY_FILE", "/etc/vmmd/client.key"}};
  TlsFlags flags;
  flags.ca_file = "mine.pem";
  ASSERT_OK_AND_ASSIGN(TlsOptions options, Resolve(flags));
  EXPECT_EQ(options.ca_file.value, "mine.pem");
  EXPECT_EQ(options.ca_file.source, "--tls_ca_file");
  EXPECT_EQ(options.server_name.value, "vmmd.internal");
  EXPECT_EQ(options.server_name.source, "VMMD_TLS_SERVER_NAME");
  EXPECT_EQ(options.cert_file.value, "/etc/vmmd/client.crt");
  EXPECT_EQ(options.cert_file.source, "VMMD_TLS_CERT_FILE");
  EXPECT_EQ(options.key_file.source, "VMMD_TLS_KEY_FILE");
}

TEST_F(ResolveTlsOptionsTest, EmptyVariableIsUnset) {
  environment_ = {{"VMMD_TLS_CA_FILE", ""}};
  ASSERT_OK_AND_ASSIGN(TlsOptions options, Resolve({}, "unix:/run/vmmd/vmmd.sock"));
  EXPECT_FALSE(options.enabled());
}

TEST_F(ResolveTlsOptionsTest, CertificateAndKeyAreNeverMixedFromFlagAndEnvironment) {
  environment_ = {{"VMMD_TLS_CERT_FILE", "env.crt"}, {"VMMD_TLS_KEY_FILE", "env.key"}};
  TlsFlags flags;
  flags.cert_file = "flag.crt";
  EXPECT_THAT(Resolve(flags),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls_cert_file needs --tls_key_file too")));
  flags.key_file = "flag.key";
  ASSERT_OK_AND_ASSIGN(TlsOptions options, Resolve(flags));
  EXPECT_EQ(options.cert_file.value, "flag.crt");
  EXPECT_EQ(options.key_file.value, "flag.key");
}

TEST_F(ResolveTlsOptionsTest, CertificateWithoutKeyAndKeyWithoutCertificate) {
  TlsFlags cert_only;
  cert_only.cert_file = "client.crt";
  EXPECT_THAT(Resolve(cert_only),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--tls_cert_file needs --tls_key_file too"),
                             HasSubstr("private key"))));
  TlsFlags key_only;
  key_only.key_file = "client.key";
  EXPECT_THAT(Resolve(key_only), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("--tls_key_file needs --tls_cert_file")));
  environment_ = {{"VMMD_TLS_KEY_FILE", "client.key"}};
  EXPECT_THAT(Resolve({}), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("VMMD_TLS_KEY_FILE needs VMMD_TLS_CERT_FILE")));
}

TEST_F(ResolveTlsOptionsTest, TlsForAUnixSocketNamesTheFlag) {
  TlsFlags flags;
  flags.cert_file = "client.crt";
  flags.key_file = "client.key";
  EXPECT_THAT(Resolve(flags, "unix:/run/vmmd/vmmd.sock"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--tls_cert_file asks for TLS"),
                             HasSubstr("--address unix:/run/vmmd/vmmd.sock is a Unix socket"),
                             HasSubstr("tcp: addresses only"))));
}

TEST_F(ResolveTlsOptionsTest, TlsVariableWithAUnixSocketNamesTheVariable) {
  environment_ = {{"VMMD_TLS_CA_FILE", "/etc/vmmd/ca.pem"}};
  EXPECT_THAT(Resolve({}, "unix:/run/vmmd/vmmd.sock"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("VMMD_TLS_CA_FILE asks for TLS")));
}

}  // namespace
}  // namespace vmmctl
