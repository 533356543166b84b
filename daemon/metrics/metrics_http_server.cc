#include "daemon/metrics/metrics_http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/errno_status.h"
#include "base/unique_fd.h"
#include "daemon/metrics/prometheus_text.h"
#include "glog/logging.h"

namespace vmmd::metrics {
namespace {

MHD_Result Respond(MHD_Connection* connection, unsigned int status, const std::string& body,
                   const char* content_type) {
  MHD_Response* response =
      MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

// libmicrohttpd's request callback; `render` is the server's page function. Called once per
// request here: the answer does not wait for a body (a GET has none; others are refused).
MHD_Result HandleRequest(void* render, MHD_Connection* connection, const char* url, const char* method,
                         const char* /*version*/, const char* /*upload_data*/,
                         size_t* upload_data_size, void** /*request_state*/) {
  *upload_data_size = 0;  // whatever body a client sent is ignored
  constexpr char kText[] = "text/plain; charset=utf-8";
  if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    return Respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", kText);
  }
  if (std::strcmp(url, "/metrics") != 0) {
    return Respond(connection, MHD_HTTP_NOT_FOUND, "vmmd serves its metrics at /metrics\n", kText);
  }
  const std::string page = (*static_cast<std::function<std::string()>*>(render))();
  return Respond(connection, MHD_HTTP_OK, page, PrometheusText::kContentType);
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_listen unix:", path, ": longer than ",
                                                   sizeof(address.sun_path) - 1, " bytes"));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ::vmmd::ErrnoToStatus(errno, "--metrics_listen: socket");
  // A socket file left by a vmmd that died; anything else there is not ours to remove.
  struct stat existing;
  if (::lstat(path.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("--metrics_listen: bind(", path, ")"));
  }
  ::chmod(path.c_str(), 0660);
  if (::listen(fd.get(), SOMAXCONN) != 0) return ::vmmd::ErrnoToStatus(errno, "--metrics_listen: listen");
  return fd;
}

// Binds "HOST:PORT" (HOST possibly "[v6]") and reports the port it got in `endpoint`.
absl::StatusOr<UniqueFd> ListenTcp(const std::string& target, std::string& endpoint) {
  const size_t colon = target.rfind(':');
  std::string host = target.substr(0, colon);
  const std::string port = target.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_listen tcp:", target, ": ", ::gai_strerror(error)));
  }
  absl::Status last = absl::UnavailableError(absl::StrCat("--metrics_listen tcp:", target, ": no address"));
  UniqueFd listening;
  for (addrinfo* candidate = found; candidate != nullptr && !listening; candidate = candidate->ai_next) {
    UniqueFd fd(::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol));
    if (!fd) {
      last = ::vmmd::ErrnoToStatus(errno, "--metrics_listen: socket");
      continue;
    }
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd.get(), candidate->ai_addr, candidate->ai_addrlen) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) {
      last = ::vmmd::ErrnoToStatus(errno, absl::StrCat("--metrics_listen tcp:", target));
      continue;
    }
    listening = std::move(fd);
  }
  ::freeaddrinfo(found);
  if (!listening) return last;
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(listening.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  const uint16_t bound_port = bound.ss_family == AF_INET6
                                  ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  endpoint = absl::StrCat("tcp:", target.substr(0, colon), ":", bound_port);
  return listening;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const ListenAddress& address, std::function<std::string()> render) {
  if (!address.is_loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_listen tcp:", address.grpc_target,
        ": metrics are served on a Unix socket or loopback TCP only (they name every VM); let a "
        "node-local agent or an authenticating proxy scrape them"));
  }
  auto server = std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(render)));
  absl::StatusOr<UniqueFd> socket;
  if (address.is_unix) {
    socket = ListenUnix(address.unix_path);
    server->endpoint_ = absl::StrCat("unix:", address.unix_path);
    if (socket.ok()) server->unix_path_ = address.unix_path;
  } else {
    socket = ListenTcp(address.grpc_target, server->endpoint_);
  }
  if (!socket.ok()) return socket.status();
  const int fd = socket->get();
  server->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, /*port=*/0, /*apc=*/nullptr, nullptr,
      &HandleRequest, &server->render_, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
      kMaxConnections, MHD_OPTION_CONNECTION_TIMEOUT, kConnectionTimeoutSeconds, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("--metrics_listen: libmicrohttpd did not start on ",
                                               server->endpoint_));
  }
  socket->Release();  // MHD_stop_daemon closes it
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

}  // namespace vmmd::metrics
