#include "daemon/server.h"

#include <memory>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "glog/logging.h"
#include "daemon/parse_failure_interceptor.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace vmmd {
namespace {

// Certificates and keys are a few KiB; a CA bundle a few hundred.
constexpr size_t kMaxPemFileBytes = 1 << 20;

// Reads a PEM file named by `flag`: its errno if it cannot be read, INVALID_ARGUMENT if it is
// too big or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return ::vmmd::ErrnoToStatus(errno, absl::StrCat(flag, ": open(", path, ")"));
  std::string contents;
  char buffer[16384];
  while (true) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ::vmmd::ErrnoToStatus(errno, absl::StrCat(flag, ": read(", path, ")"));
    if (got == 0) break;
    contents.append(buffer, static_cast<size_t>(got));
    if (contents.size() > kMaxPemFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", path, " is larger than ", kMaxPemFileBytes, " bytes"));
    }
  }
  if (!absl::StrContains(contents, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no PEM data"));
  }
  return contents;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ListenAddress& address, const TlsFiles& tls) {
  if (!tls.any()) {
    if (!address.is_loopback) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen tcp:", address.grpc_target,
          ": TCP beyond loopback needs TLS, since whoever can connect controls every VM: give "
          "--tls_cert_file and --tls_key_file (and --tls_client_ca_file to require client "
          "certificates), or listen on 127.0.0.1 or a Unix socket"));
    }
    return grpc::InsecureServerCredentials();
  }
  if (address.is_unix) {
    return absl::InvalidArgumentError(
        "--tls_cert_file, --tls_key_file and --tls_client_ca_file are for --listen tcp:...; a "
        "Unix socket is protected by its file permissions (--socket_group)");
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert_file and --tls_key_file (--tls_client_ca_file alone is not "
        "enough)");
  }
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPemFile("--tls_cert_file", tls.cert_file));
  ASSIGN_OR_RETURN(pair.private_key, ReadPemFile("--tls_key_file", tls.key_file));
  struct stat key_info;
  if (::stat(tls.key_file.c_str(), &key_info) == 0 && (key_info.st_mode & S_IROTH) != 0) {
    LOG(WARNING) << "--tls_key_file " << tls.key_file << " is readable by every user; chmod o-r it";
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadPemFile("--tls_client_ca_file", tls.client_ca_file));
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    const ListenAddress& address, VmmServiceImpl* service, const ServerLimits& limits,
    std::shared_ptr<grpc::ServerCredentials> credentials, metrics::RpcMetrics* rpc_metrics) {
  if (credentials == nullptr) {
    // Plaintext only where nobody beyond this host can connect.
    ASSIGN_OR_RETURN(credentials, MakeServerCredentials(address, TlsFiles()));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address.grpc_target, credentials, &port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(limits.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(limits.max_send_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  // Clients may ping every 10 s at most; idle connections are probed every 2 minutes.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 120000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  grpc::ResourceQuota quota("vmmd");
  quota.SetMaxThreads(limits.max_server_threads);
  builder.SetResourceQuota(quota);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<ParseFailureInterceptorFactory>());
  // After the parse-failure one: it records the status that call ends with.
  if (rpc_metrics != nullptr) interceptors.push_back(rpc_metrics->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // One idle poller: the sync server then rests at the same thread count after every burst
  // of calls (its default keeps one or two, depending on history); busy calls still get a
  // thread each, up to the quota.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1);

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || (!address.is_unix && port == 0)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address.grpc_target));
  }
  return server;
}

}  // namespace vmmd
