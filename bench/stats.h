// Sample statistics and a small JSON writer for the benchmark programs under bench/. Each
// program writes one JSON object (summaries plus raw samples) that tools/bench collects and
// bench/report.py renders.
#ifndef VMMD_BENCH_STATS_H_
#define VMMD_BENCH_STATS_H_

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace vmmd::bench {

// Monotonic milliseconds since an arbitrary start, as a double.
inline double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Summary {
  size_t count = 0;
  double mean = 0, min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Percentile by linear interpolation between closest ranks (numpy's default), on sorted data.
inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t low = static_cast<size_t>(std::floor(rank));
  const size_t high = std::min(low + 1, sorted.size() - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - static_cast<double>(low));
}

inline Summary Summarize(std::vector<double> samples) {
  Summary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(samples.size());
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = Percentile(samples, 50);
  s.p90 = Percentile(samples, 90);
  s.p99 = Percentile(samples, 99);
  return s;
}

// Builds one JSON object; values are numbers, strings, or JSON already rendered.
class JsonObject {
 public:
  JsonObject& Number(const std::string& key, double value) {
    return Raw(key, std::isfinite(value) ? absl::StrFormat("%.6g", value) : "null");
  }
  JsonObject& Integer(const std::string& key, int64_t value) {
    return Raw(key, absl::StrCat(value));
  }
  JsonObject& Bool(const std::string& key, bool value) { return Raw(key, value ? "true" : "false"); }
  JsonObject& String(const std::string& key, const std::string& value) {
    return Raw(key, Quote(value));
  }
  JsonObject& Samples(const std::string& key, const std::vector<double>& values) {
    std::vector<std::string> parts;
    parts.reserve(values.size());
    for (double v : values) parts.push_back(absl::StrFormat("%.6g", v));
    return Raw(key, absl::StrCat("[", absl::StrJoin(parts, ","), "]"));
  }
  JsonObject& SummaryOf(const std::string& key, const std::vector<double>& values) {
    const Summary s = Summarize(values);
    JsonObject o;
    o.Integer("count", static_cast<int64_t>(s.count))
        .Number("mean", s.mean)
        .Number("min", s.min)
        .Number("p50", s.p50)
        .Number("p90", s.p90)
        .Number("p99", s.p99)
        .Number("max", s.max);
    return Raw(key, o.Render());
  }
  JsonObject& Object(const std::string& key, const JsonObject& value) {
    return Raw(key, value.Render());
  }
  JsonObject& Raw(const std::string& key, const std::string& json) {
    fields_.emplace_back(key, json);
    return *this;
  }
  std::string Render() const {
    std::vector<std::string> parts;
    for (const auto& [key, json] : fields_) parts.push_back(absl::StrCat(Quote(key), ":", json));
    return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
  }

  static std::string Quote(const std::string& text) {
    std::string out = "\"";
    for (unsigned char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        out += absl::StrFormat("\\u%04x", c);
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

inline std::string JsonList(const std::vector<JsonObject>& objects) {
  std::vector<std::string> parts;
  for (const JsonObject& o : objects) parts.push_back(o.Render());
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

// Writes `json` to `path`, or to stdout when `path` is empty. False on failure.
inline bool WriteJson(const std::string& path, const std::string& json) {
  if (path.empty()) {
    std::printf("%s\n", json.c_str());
    return true;
  }
  std::ofstream out(path);
  out << json << "\n";
  return static_cast<bool>(out);
}

}  // namespace vmmd::bench

#endif  // VMMD_BENCH_STATS_H_
