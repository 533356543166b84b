// The daemon's own families on the metrics page, under the names Prometheus's client
// libraries give them (process_*), read from /proc/self: what the systemd unit's ProcSubset=pid
// still shows.
#ifndef VMMD_DAEMON_METRICS_PROCESS_METRICS_H_
#define VMMD_DAEMON_METRICS_PROCESS_METRICS_H_

#include "absl/time/time.h"
#include "daemon/metrics/prometheus_text.h"

namespace vmmd::metrics {

// process_resident_memory_bytes (guest pages the guests touched included),
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_threads,
// process_cpu_seconds_total, process_start_time_seconds (`started`) and
// vmmd_build_info{version}.
void WriteProcessMetrics(absl::Time started, PrometheusText& page);

}  // namespace vmmd::metrics

#endif  // VMMD_DAEMON_METRICS_PROCESS_METRICS_H_
