#include "daemon/metrics/prometheus_text.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmmd::metrics {
namespace {

const char* TypeName(PrometheusText::Type type) {
  switch (type) {
    case PrometheusText::Type::kCounter: return "counter";
    case PrometheusText::Type::kGauge: return "gauge";
    case PrometheusText::Type::kHistogram: return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; label values also the double quote.
void AppendEscaped(std::string& out, absl::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

void PrometheusText::Family(absl::string_view name, Type type, absl::string_view help) {
  family_ = std::string(name);
  absl::StrAppend(&page_, "# HELP ", name, " ");
  AppendEscaped(page_, help, /*quote=*/false);
  absl::StrAppend(&page_, "\n# TYPE ", name, " ", TypeName(type), "\n");
}

void PrometheusText::SampleStart(const Labels& labels, absl::string_view suffix) {
  absl::StrAppend(&page_, family_, suffix);
  if (labels.empty()) {
    page_ += ' ';
    return;
  }
  page_ += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) page_ += ',';
    absl::StrAppend(&page_, labels[i].first, "=\"");
    AppendEscaped(page_, labels[i].second, /*quote=*/true);
    page_ += '"';
  }
  page_ += "} ";
}

void PrometheusText::Sample(const Labels& labels, double value, absl::string_view suffix) {
  SampleStart(labels, suffix);
  if (std::isinf(value)) {
    page_ += value > 0 ? "+Inf" : "-Inf";
  } else if (std::isnan(value)) {
    page_ += "NaN";
  } else {
    absl::StrAppendFormat(&page_, "%.17g", value);
  }
  page_ += '\n';
}

void PrometheusText::Sample(const Labels& labels, uint64_t value, absl::string_view suffix) {
  SampleStart(labels, suffix);
  absl::StrAppend(&page_, value, "\n");
}

std::string SanitizedLabelName(absl::string_view text) {
  std::string name;
  if (text.empty() || absl::ascii_isdigit(text.front())) name += '_';
  for (char c : text) name += absl::ascii_isalnum(c) ? c : '_';
  return name;
}

}  // namespace vmmd::metrics
