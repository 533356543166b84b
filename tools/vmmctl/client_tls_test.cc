#include "tools/vmmctl/client_tls.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmctl {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// Not real certificates: LoadClientTls only reads files; gRPC judges what is in them.
constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
constexpr char kCertPem[] = "-----BEGIN CERTIFICATE-----\nme\n-----END CERTIFICATE-----\n";
constexpr char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n";

class LoadClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/client_tls_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
  }
  void TearDown() override {
    [[maybe_unused]] int ignored = ::system(("rm -rf '" + directory_ + "'").c_str());
  }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = directory_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }
  static TlsSetting Flag(const std::string& name, const std::string& value) {
    return {value, "--" + name};
  }

  std::string directory_;
};

TEST_F(LoadClientTlsTest, ReadsEveryFile) {
  TlsOptions options;
  options.ca_file = Flag("tls_ca_file", Write("ca.pem", kCaPem));
  options.cert_file = Flag("tls_cert_file", Write("client.crt", kCertPem));
  options.key_file = Flag("tls_key_file", Write("client.key", kKeyPem));
  options.server_name = Flag("tls_server_name", "vmmd.internal");
  ASSERT_OK_AND_ASSIGN(ClientTls tls, LoadClientTls(options));
  EXPECT_EQ(tls.root_certs, kCaPem);
  EXPECT_EQ(tls.cert_chain, kCertPem);
  EXPECT_EQ(tls.private_key, kKeyPem);
  EXPECT_EQ(tls.server_name, "vmmd.internal");
  EXPECT_EQ(tls.roots_origin, "--tls_ca_file " + directory_ + "/ca.pem");
}

TEST_F(LoadClientTlsTest, NoCaFileMeansTheSystemsRoots) {
  TlsOptions options;
  options.server_name = Flag("tls_server_name", "vmmd.internal");
  ASSERT_OK_AND_ASSIGN(ClientTls tls, LoadClientTls(options));
  EXPECT_EQ(tls.root_certs, "");
  EXPECT_EQ(tls.roots_origin, "");
  EXPECT_EQ(tls.cert_chain, "");
}

TEST_F(LoadClientTlsTest, MissingFileNamesTheFlagAndThePath) {
  TlsOptions options;
  options.ca_file = Flag("tls_ca_file", directory_ + "/missing.pem");
  EXPECT_THAT(LoadClientTls(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls_ca_file: cannot read " + directory_ +
                                 "/missing.pem: No such file or directory")));
}

TEST_F(LoadClientTlsTest, VariableIsNamedLikeAFlag) {
  TlsOptions options;
  options.ca_file = Flag("tls_ca_file", Write("ca.pem", kCaPem));
  options.cert_file = {directory_ + "/nope.crt", "VMMD_TLS_CERT_FILE"};
  options.key_file = {Write("client.key", kKeyPem), "VMMD_TLS_KEY_FILE"};
  EXPECT_THAT(LoadClientTls(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("VMMD_TLS_CERT_FILE: cannot read " + directory_ + "/nope.crt")));
}

TEST_F(LoadClientTlsTest, DirectoryIsNotAFile) {
  TlsOptions options;
  options.cert_file = Flag("tls_cert_file", Write("client.crt", kCertPem));
  options.key_file = Flag("tls_key_file", directory_);
  EXPECT_THAT(LoadClientTls(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls_key_file: cannot read " + directory_ +
                                 ": Is a directory")));
}

TEST_F(LoadClientTlsTest, FileWithoutPemIsRefused) {
  TlsOptions options;
  options.ca_file = Flag("tls_ca_file", Write("ca.der", std::string("\x30\x82\x01\x0a", 4)));
  EXPECT_THAT(LoadClientTls(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tls_ca_file: " + directory_ + "/ca.der holds no PEM data")));
}

TEST_F(LoadClientTlsTest, HugeFileIsRefused) {
  TlsOptions options;
  options.ca_file = Flag("tls_ca_file", Write("huge.pem", kCaPem + std::string(2 << 20, 'x')));
  EXPECT_THAT(LoadClientTls(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("larger than 1048576 bytes")));
}

}  // namespace
}  // namespace vmmctl
