// The per-VM families of vmmd's metrics page, from each VM's status (what GetVm reports):
// every series carries the VM's vm_id, and a VM's series go with it when it is deleted.
#ifndef VMMD_DAEMON_METRICS_VM_METRICS_H_
#define VMMD_DAEMON_METRICS_VM_METRICS_H_

#include <vector>

#include "daemon/metrics/prometheus_text.h"
#include "daemon/virtual_machine.h"

namespace vmmd::metrics {

// Writes, for `vms` (each family once, a sample per VM):
//   vmmd_vm_info{vm_id,state}           1 for the state it is in (also 0 for the others)
//   vmmd_vm_labels{vm_id,label_*}       1, the VM's labels as label_<key> (kube-state-metrics'
//                                       convention: keys sanitized, "app.kubernetes.io/name"
//                                       becomes label_app_kubernetes_io_name)
//   vmmd_vm_vcpus, vmmd_vm_memory_bytes
//   vmmd_vcpu_exits_total{vm_id,vcpu,kind}
//   vmmd_console_bytes_total, vmmd_console_log_dropped_bytes_total{reason}
//   vmmd_unhandled_exits_total{vm_id,space="io"|"mmio"}
//   vmmd_device_{requests,read_bytes,written_bytes,errors,notifications,interrupts,
//                packets_received,packets_sent,drops,refused_accesses,needs_reset}_total
//                                       {vm_id,device,kind}
// and the host's count of VMs by state, vmmd_vms{state}.
void WriteVmMetrics(const std::vector<VmStatus>& vms, PrometheusText& page);

}  // namespace vmmd::metrics

#endif  // VMMD_DAEMON_METRICS_VM_METRICS_H_
