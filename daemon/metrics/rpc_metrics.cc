#include "daemon/metrics/rpc_metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace vmmd::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

// grpc_code values as go-grpc-prometheus writes them, by grpc::StatusCode.
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",          "Canceled",           "Unknown",         "InvalidArgument", "DeadlineExceeded",
    "NotFound",    "AlreadyExists",      "PermissionDenied", "ResourceExhausted",
    "FailedPrecondition", "Aborted",     "OutOfRange",      "Unimplemented",   "Internal",
    "Unavailable", "DataLoss",           "Unauthenticated"};

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY: return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING: return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING: return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unknown";
}

// Times one call from its start (when gRPC makes the interceptor) to the status it sends.
class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(RpcMetrics& metrics, ServerRpcInfo* info)
      : metrics_(metrics), method_(info->method()), type_(TypeName(info->type())),
        started_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_.Record(method_, type_, methods->GetSendStatus().error_code(), absl::Now() - started_);
    }
    methods->Proceed();
  }

 private:
  RpcMetrics& metrics_;
  const std::string method_;
  const char* const type_;
  const absl::Time started_;
};

class RpcMetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(RpcMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(metrics_, info);
  }

 private:
  RpcMetrics& metrics_;
};

}  // namespace

RpcMetrics::Method& RpcMetrics::MethodFor(const std::string& method, const char* type) {
  MutexLock lock(&mutex_);
  auto found = methods_.find(method);
  if (found != methods_.end()) return *found->second;
  std::string key = method;
  if (methods_.size() >= kMaxMethods) {
    key = "other";
    found = methods_.find(key);
    if (found != methods_.end()) return *found->second;
  }
  auto entry = std::make_unique<Method>();
  // "/vmm.v1.VmmService/CreateVm": service "vmm.v1.VmmService", method "CreateVm".
  const size_t slash = key.rfind('/');
  if (key != "other" && slash != std::string::npos && slash > 0) {
    entry->service = key.substr(1, slash - 1);
    entry->name = key.substr(slash + 1);
  } else {
    entry->service = "other";
    entry->name = "other";
  }
  entry->type = key == "other" ? "unknown" : type;
  Method& made = *entry;
  methods_.emplace(std::move(key), std::move(entry));
  return made;
}

void RpcMetrics::Record(const std::string& method, const char* type, int code,
                        absl::Duration elapsed) {
  Method& entry = MethodFor(method, type);
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const size_t bucket =
      std::lower_bound(kBucketBounds.begin(), kBucketBounds.end(), seconds) - kBucketBounds.begin();
  entry.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  entry.sum_nanos.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(elapsed))),
                            std::memory_order_relaxed);
  const size_t code_index = code >= 0 && static_cast<size_t>(code) < kCodeNames.size() ? code : 2;  // else Unknown
  entry.codes[code_index].fetch_add(1, std::memory_order_relaxed);
}

void RpcMetrics::Write(PrometheusText& page) const {
  MutexLock lock(&mutex_);
  page.Family("grpc_server_handled_total", PrometheusText::Type::kCounter,
              "gRPC calls completed, by method and status code.");
  for (const auto& [key, method] : methods_) {
    for (size_t code = 0; code < kCodeNames.size(); ++code) {
      const uint64_t count = method->codes[code].load(std::memory_order_relaxed);
      if (count == 0) continue;
      page.Sample({{"grpc_service", method->service}, {"grpc_method", method->name},
                   {"grpc_type", method->type}, {"grpc_code", kCodeNames[code]}},
                  count);
    }
  }
  page.Family("grpc_server_handling_seconds", PrometheusText::Type::kHistogram,
              "Time from a gRPC call's start to its status, by method (a stream's whole life).");
  for (const auto& [key, method] : methods_) {
    const Labels base = {{"grpc_service", method->service}, {"grpc_method", method->name},
                         {"grpc_type", method->type}};
    // _count is the buckets' own total: calls finishing while this runs would
    // otherwise make the +Inf bucket and _count disagree, which the format forbids.
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= kBucketBounds.size(); ++i) {
      cumulative += method->buckets[i].load(std::memory_order_relaxed);
      Labels labels = base;
      labels.emplace_back("le", i < kBucketBounds.size() ? absl::StrFormat("%g", kBucketBounds[i]) : "+Inf");
      page.Sample(labels, cumulative, "_bucket");
    }
    page.Sample(base, static_cast<double>(method->sum_nanos.load(std::memory_order_relaxed)) / 1e9, "_sum");
    page.Sample(base, cumulative, "_count");
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcMetrics::InterceptorFactory() {
  return std::make_unique<RpcMetricsInterceptorFactory>(*this);
}

}  // namespace vmmd::metrics
