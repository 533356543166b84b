#include "daemon/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "daemon/host_info.h"

namespace vmmd::metrics {
namespace {

using Type = PrometheusText::Type;

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A "Key:   value [kB]" line of /proc/self/status, in its unit (kB for memory); 0 if absent.
uint64_t StatusField(const std::string& status, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, key) || !absl::ConsumePrefix(&line, ":")) continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    uint64_t value = 0;
    if (!words.empty() && absl::SimpleAtoi(words[0], &value)) return value;
  }
  return 0;
}

uint64_t OpenFds() {
  uint64_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.' ? 1 : 0;
  ::closedir(dir);
  return count > 0 ? count - 1 : 0;  // not the one opendir holds
}

// User plus system time from /proc/self/stat (fields 14 and 15, after the parenthesised name).
double CpuSeconds() {
  const std::string stat = ReadFile("/proc/self/stat");
  const size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos) return 0;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(name_end + 2), ' ', absl::SkipEmpty());
  uint64_t user = 0, system = 0;
  // Field 3 (state) is the first after the name: utime is field 14, stime 15.
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &user) || !absl::SimpleAtoi(fields[12], &system)) {
    return 0;
  }
  return static_cast<double>(user + system) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

void WriteProcessMetrics(absl::Time started, PrometheusText& page) {
  const std::string status = ReadFile("/proc/self/status");
  page.Family("process_resident_memory_bytes", Type::kGauge,
              "Resident memory of vmmd, guest memory the guests have touched included.");
  page.Sample({}, StatusField(status, "VmRSS") * 1024);
  page.Family("process_virtual_memory_bytes", Type::kGauge, "Virtual memory of vmmd, all guest memory included.");
  page.Sample({}, StatusField(status, "VmSize") * 1024);
  page.Family("process_threads", Type::kGauge, "Threads of vmmd (a worker and one per vCPU for each VM).");
  page.Sample({}, StatusField(status, "Threads"));
  page.Family("process_open_fds", Type::kGauge, "Open file descriptors of vmmd.");
  page.Sample({}, OpenFds());
  page.Family("process_max_fds", Type::kGauge, "Most file descriptors vmmd may open (RLIMIT_NOFILE).");
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  page.Sample({}, static_cast<uint64_t>(limit.rlim_cur));
  page.Family("process_cpu_seconds_total", Type::kCounter, "CPU time vmmd used, vCPU threads included.");
  page.Sample({}, CpuSeconds());
  page.Family("process_start_time_seconds", Type::kGauge, "When vmmd started, in seconds since the Unix epoch.");
  page.Sample({}, absl::ToDoubleSeconds(started - absl::UnixEpoch()));
  page.Family("vmmd_build_info", Type::kGauge, "1, labelled with vmmd's version.");
  page.Sample({{"version", kVmmdVersion}}, uint64_t{1});
}

}  // namespace vmmd::metrics
