// PrometheusText: a page in Prometheus's text exposition format (version 0.0.4), the format
// every Prometheus-compatible scraper reads. Each family is written once, its HELP and TYPE
// lines first and then its samples; label values and help texts are escaped as the format
// requires, so names a client chose (vm ids, labels) cannot break the page.
#ifndef VMMD_DAEMON_METRICS_PROMETHEUS_TEXT_H_
#define VMMD_DAEMON_METRICS_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace vmmd::metrics {

// Label name and value pairs, in the order they are written.
using Labels = std::vector<std::pair<absl::string_view, std::string>>;

class PrometheusText {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // The media type scrapers are told.
  static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

  // Starts the family `name` (a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*); the samples that
  // follow belong to it. A family with no samples is still a valid page.
  void Family(absl::string_view name, Type type, absl::string_view help);

  // A sample of the current family, named after it plus `suffix` (a histogram's "_bucket",
  // "_sum" and "_count"). Whole numbers are written without a fraction.
  void Sample(const Labels& labels, double value, absl::string_view suffix = "");
  void Sample(const Labels& labels, uint64_t value, absl::string_view suffix = "");

  const std::string& page() const { return page_; }

 private:
  void SampleStart(const Labels& labels, absl::string_view suffix);

  std::string family_;
  std::string page_;
};

// `text` as a label name: characters outside [a-zA-Z0-9_] become '_', and a leading digit
// gets a '_' before it (Kubernetes-style label keys such as app.kubernetes.io/name become
// app_kubernetes_io_name, as kube-state-metrics writes them).
std::string SanitizedLabelName(absl::string_view text);

}  // namespace vmmd::metrics

#endif  // VMMD_DAEMON_METRICS_PROMETHEUS_TEXT_H_
