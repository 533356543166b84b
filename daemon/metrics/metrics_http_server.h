// MetricsHttpServer: serves the metrics page over HTTP (libmicrohttpd) at GET /metrics, on a
// Unix socket or a loopback TCP port (vmmd --metrics_listen; the page names every VM, so it is
// never served beyond this host: a fleet's node-local agent or an authenticating proxy scrapes
// it, see deploy/). One thread of its own; connections are bounded in number and time.
#ifndef VMMD_DAEMON_METRICS_METRICS_HTTP_SERVER_H_
#define VMMD_DAEMON_METRICS_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/listen_address.h"

struct MHD_Daemon;

namespace vmmd::metrics {

class MetricsHttpServer {
 public:
  static constexpr unsigned kMaxConnections = 16;
  static constexpr unsigned kConnectionTimeoutSeconds = 10;

  // Listens on `address` and answers GET /metrics with `render()` (called on the server's
  // thread, once per scrape). INVALID_ARGUMENT for TCP beyond loopback; the socket's errno
  // (EADDRINUSE, ...) if it cannot listen. A stale Unix socket file is replaced.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const ListenAddress& address,
                                                                  std::function<std::string()> render);
  ~MetricsHttpServer();  // stops serving; the Unix socket file is removed

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Where it listens, as "unix:/path" or "tcp:HOST:PORT" with the port it got.
  const std::string& endpoint() const { return endpoint_; }

 private:
  explicit MetricsHttpServer(std::function<std::string()> render) : render_(std::move(render)) {}

  std::function<std::string()> render_;  // the server's thread calls it through a pointer
  std::string endpoint_;
  std::string unix_path_;  // removed on destruction
  MHD_Daemon* daemon_ = nullptr;
};

}  // namespace vmmd::metrics

#endif  // VMMD_DAEMON_METRICS_METRICS_HTTP_SERVER_H_
