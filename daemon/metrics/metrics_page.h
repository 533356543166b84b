// vmmd's whole metrics page: every VM's series, the daemon's own, and its RPCs'.
#ifndef VMMD_DAEMON_METRICS_METRICS_PAGE_H_
#define VMMD_DAEMON_METRICS_METRICS_PAGE_H_

#include <string>

#include "absl/time/time.h"
#include "daemon/metrics/rpc_metrics.h"
#include "daemon/vm_manager.h"

namespace vmmd::metrics {

// Reads each VM's status now (as GetVm does): a VM deleted before this call is not on it.
std::string RenderMetricsPage(const VmManager& manager, const RpcMetrics& rpcs, absl::Time started);

}  // namespace vmmd::metrics

#endif  // VMMD_DAEMON_METRICS_METRICS_PAGE_H_
