#include "daemon/metrics/metrics_page.h"

#include <memory>
#include <vector>

#include "daemon/metrics/process_metrics.h"
#include "daemon/metrics/prometheus_text.h"
#include "daemon/metrics/vm_metrics.h"

namespace vmmd::metrics {

std::string RenderMetricsPage(const VmManager& manager, const RpcMetrics& rpcs, absl::Time started) {
  std::vector<VmStatus> vms;
  for (const std::shared_ptr<VirtualMachine>& vm : manager.List()) vms.push_back(vm->Status());
  PrometheusText page;
  WriteVmMetrics(vms, page);
  const VmManager::Usage usage = manager.usage();
  page.Family("vmmd_committed_memory_bytes", PrometheusText::Type::kGauge,
              "Guest memory the VMs hold, counted as --max_total_memory_mib counts it (until deleted).");
  page.Sample({}, usage.memory_mib << 20);
  WriteProcessMetrics(started, page);
  rpcs.Write(page);
  return page.page();
}

}  // namespace vmmd::metrics
