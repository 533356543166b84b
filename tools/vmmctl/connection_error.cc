#include "tools/vmmctl/connection_error.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace vmmctl {
namespace {

// What a failed TLS connection means. The phrases are OpenSSL's and gRPC's (1.51), which is
// why gRPC's own words always follow.
std::string ExplainTlsError(absl::string_view detail, const ClientTls& tls) {
  if (absl::StrContains(detail, "wrong version number")) {
    return "TLS handshake failed: the server does not speak TLS (does vmmd serve plaintext "
           "there? then drop the --tls_* flags)";
  }
  if (absl::StrContains(detail, "certificate verify failed")) {
    if (tls.roots_origin.empty()) {
      return "TLS handshake failed: vmmd's certificate is not signed by a CA this system "
             "trusts; give the CA that signed it with --tls_ca_file";
    }
    return absl::StrCat("TLS handshake failed: vmmd's certificate is not signed by a CA in ",
                        tls.roots_origin, " (is it the CA that signed vmmd's --tls_cert_file?)");
  }
  if (absl::StrContains(detail, "is not in peer certificate")) {
    return "TLS handshake failed: vmmd's certificate is for another name; connect by a name "
           "it has, or give one with --tls_server_name";
  }
  if (absl::StrContains(detail, "Socket closed") || absl::StrContains(detail, "reset by peer")) {
    if (tls.cert_chain.empty()) {
      return "vmmd closed the connection during TLS setup; if it requires client "
             "certificates (vmmd --tls_client_ca_file), give --tls_cert_file and --tls_key_file";
    }
    return "vmmd closed the connection during TLS setup; does it trust the CA that signed "
           "--tls_cert_file (vmmd's --tls_client_ca_file)?";
  }
  if (absl::StrContains(detail, "handshake") || absl::StrContains(detail, "Handshake")) {
    return "TLS handshake failed; check --tls_ca_file and vmmd's certificate";
  }
  return "";
}

}  // namespace

grpc::Status ProbeConnection(const std::shared_ptr<grpc::Channel>& channel,
                             gpr_timespec deadline) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  const gpr_timespec in_10_s =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
  context.set_deadline(gpr_time_min(deadline, in_10_s));
  grpc::Slice empty_message{std::string()};  // HealthCheckRequest{}: the server as a whole
  const grpc::ByteBuffer request(&empty_message, 1);
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, /*tag=*/&status);
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

std::string ExplainConnectionError(absl::string_view grpc_error, const Address& address,
                                   const std::optional<ClientTls>& tls) {
  absl::string_view detail = grpc_error;
  absl::ConsumePrefix(&detail, "failed to connect to all addresses; last error: ");
  std::string meaning;
  if (absl::StrContains(detail, "Connection refused")) {
    meaning = absl::StrCat("connection refused", kIsVmmdRunningHint);
  } else if (tls.has_value()) {
    meaning = ExplainTlsError(detail, *tls);
  } else if (address.unix_path.empty() && absl::StrContains(detail, "Socket closed")) {
    meaning = "the server closed the connection; if vmmd serves TLS there (vmmd "
              "--tls_cert_file), give --tls_ca_file with the CA that signed its certificate";
  }
  if (meaning.empty()) meaning = absl::StrCat("connection failed", kIsVmmdRunningHint);
  return absl::StrCat(meaning, " [gRPC: ", detail, "]");
}

}  // namespace vmmctl
