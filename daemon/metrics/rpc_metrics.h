// RpcMetrics: how long each gRPC method took and how it ended, recorded by a server
// interceptor and written as the grpc_server_* families that fleets' dashboards already read
// (the names of go-grpc-prometheus and grpc-java's metrics): grpc_server_handled_total by
// status code, and the grpc_server_handling_seconds histogram. A stream's time is its whole
// life (StreamConsole with follow, WatchVms).
#ifndef VMMD_DAEMON_METRICS_RPC_METRICS_H_
#define VMMD_DAEMON_METRICS_RPC_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "daemon/metrics/prometheus_text.h"
#include "grpcpp/support/server_interceptor.h"

namespace vmmd::metrics {

class RpcMetrics {
 public:
  // Upper bounds of the histogram's buckets, in seconds (+Inf follows): vmmd's calls take
  // from tens of microseconds (GetVm) to seconds (a snapshot of a large guest).
  static constexpr std::array<double, 16> kBucketBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   10,    60};
  // Distinct methods tracked; calls to others (only a misbehaving client names unknown ones)
  // are counted under grpc_method "other", so no client can grow this without bound.
  static constexpr size_t kMaxMethods = 64;

  // `method` as gRPC names it ("/package.Service/Method"); `type` "unary", "client_stream",
  // "server_stream" or "bidi_stream"; `code` the status code's number.
  void Record(const std::string& method, const char* type, int code, absl::Duration elapsed);

  // Both families, every method recorded so far.
  void Write(PrometheusText& page) const;

  // An interceptor factory recording into this object, which must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  struct Method {
    std::string service;
    std::string name;
    const char* type;
    std::array<std::atomic<uint64_t>, kBucketBounds.size() + 1> buckets{};  // the last: +Inf
    std::atomic<uint64_t> sum_nanos{0};
    std::array<std::atomic<uint64_t>, 17> codes{};  // by grpc::StatusCode, OK to UNAUTHENTICATED
  };
  Method& MethodFor(const std::string& method, const char* type);

  mutable Mutex mutex_;
  // Entries are never removed, so a reference stays valid after the lock is dropped.
  std::map<std::string, std::unique_ptr<Method>> methods_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace vmmd::metrics

#endif  // VMMD_DAEMON_METRICS_RPC_METRICS_H_
