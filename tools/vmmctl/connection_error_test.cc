// ExplainConnectionError on gRPC 1.51's words for each failure, as vmmctl saw them against
// vmmd (tests/vmmctl/tls_test.sh covers the real thing end to end).
#include "tools/vmmctl/connection_error.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPrefix[] = "failed to connect to all addresses; last error: ";
constexpr char kRefused[] =
    "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused";
constexpr char kVerifyFailed[] =
    "UNKNOWN: ipv4:127.0.0.1:7070: Ssl handshake failed: SSL_ERROR_SSL: "
    "error:0A000086:SSL routines::certificate verify failed";
constexpr char kWrongName[] =
    "UNKNOWN: ipv4:127.0.0.1:7070: Peer name vmmd.example is not in peer certificate";
constexpr char kNotTls[] =
    "UNKNOWN: ipv4:127.0.0.1:7070: Ssl handshake failed: SSL_ERROR_SSL: "
    "error:0A00010B:SSL routines::wrong version number";
constexpr char kClosed[] = "UNAVAILABLE: ipv4:127.0.0.1:7070: Socket closed";

Address Tcp() { return {"tcp:127.0.0.1:7070", "--address", "127.0.0.1:7070", ""}; }
Address Unix() { return {"unix:/run/vmmd/vmmd.sock", "--address", "unix:/run/vmmd/vmmd.sock",
                         "/run/vmmd/vmmd.sock"}; }

ClientTls WithCa() {
  ClientTls tls;
  tls.root_certs = "-----BEGIN CERTIFICATE-----";
  tls.roots_origin = "--tls_ca_file ca.pem";
  return tls;
}

std::string Explain(const std::string& detail, const Address& address,
                    const std::optional<ClientTls>& tls) {
  return ExplainConnectionError(kPrefix + detail, address, tls);
}

TEST(ExplainConnectionErrorTest, RefusedSuggestsVmmdIsNotRunning) {
  for (const std::optional<ClientTls>& tls : {std::optional<ClientTls>(), {WithCa()}}) {
    EXPECT_THAT(Explain(kRefused, Tcp(), tls),
                AllOf(HasSubstr("connection refused; is vmmd running?"), Not(HasSubstr("TLS"))));
  }
}

TEST(ExplainConnectionErrorTest, GrpcsWordsFollowWithoutItsBoilerplate) {
  EXPECT_THAT(Explain(kRefused, Tcp(), std::nullopt),
              AllOf(HasSubstr(std::string("[gRPC: ") + kRefused + "]"),
                    Not(HasSubstr("failed to connect to all addresses"))));
}

TEST(ExplainConnectionErrorTest, UnverifiedCertificateNamesTheCaFile) {
  EXPECT_THAT(Explain(kVerifyFailed, Tcp(), WithCa()),
              AllOf(HasSubstr("TLS handshake failed: vmmd's certificate is not signed by a CA "
                              "in --tls_ca_file ca.pem"),
                    HasSubstr("certificate verify failed")));
  EXPECT_THAT(Explain(kVerifyFailed, Tcp(), ClientTls()),
              HasSubstr("not signed by a CA this system trusts; give the CA that signed it "
                        "with --tls_ca_file"));
}

TEST(ExplainConnectionErrorTest, CertificateForAnotherName) {
  EXPECT_THAT(Explain(kWrongName, Tcp(), WithCa()),
              AllOf(HasSubstr("vmmd's certificate is for another name"),
                    HasSubstr("--tls_server_name"), HasSubstr("Peer name vmmd.example")));
}

TEST(ExplainConnectionErrorTest, TlsToAPlaintextServer) {
  EXPECT_THAT(Explain(kNotTls, Tcp(), WithCa()),
              HasSubstr("the server does not speak TLS (does vmmd serve plaintext there?"));
}

TEST(ExplainConnectionErrorTest, ClosedDuringTlsSetupAsksForAClientCertificate) {
  EXPECT_THAT(Explain(kClosed, Tcp(), WithCa()),
              HasSubstr("if it requires client certificates (vmmd --tls_client_ca_file), give "
                        "--tls_cert_file and --tls_key_file"));
  ClientTls with_certificate = WithCa();
  with_certificate.cert_chain = "-----BEGIN CERTIFICATE-----";
  with_certificate.private_key = "-----BEGIN PRIVATE KEY-----";
  EXPECT_THAT(Explain(kClosed, Tcp(), with_certificate),
              HasSubstr("does it trust the CA that signed --tls_cert_file"));
}

TEST(ExplainConnectionErrorTest, PlaintextClosedSuggestsTls) {
  EXPECT_THAT(Explain(kClosed, Tcp(), std::nullopt),
              HasSubstr("if vmmd serves TLS there (vmmd --tls_cert_file), give --tls_ca_file"));
  // A Unix socket never has TLS.
  EXPECT_THAT(Explain(kClosed, Unix(), std::nullopt),
              AllOf(HasSubstr("connection failed; is vmmd running?"), Not(HasSubstr("TLS"))));
}

TEST(ExplainConnectionErrorTest, AnythingElseIsAFailedConnection) {
  EXPECT_THAT(Explain("UNKNOWN: something new", Tcp(), WithCa()),
              AllOf(HasSubstr("connection failed; is vmmd running?"),
                    HasSubstr("[gRPC: UNKNOWN: something new]")));
}

}  // namespace
}  // namespace vmmctl
