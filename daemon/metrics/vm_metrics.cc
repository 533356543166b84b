#include "daemon/metrics/vm_metrics.h"

#include <array>
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace vmmd::metrics {
namespace {

using Type = PrometheusText::Type;

constexpr std::array<VmState, 5> kStates = {VmState::kCreated, VmState::kConfigured, VmState::kRunning,
                                            VmState::kPaused, VmState::kStopped};

std::string StateLabel(VmState state) { return absl::AsciiStrToLower(VmStateName(state)); }

// One family with a sample per VM: `value` of each status.
void PerVm(PrometheusText& page, const std::vector<VmStatus>& vms, const char* name, Type type,
           const char* help, const std::function<uint64_t(const VmStatus&)>& value) {
  page.Family(name, type, help);
  for (const VmStatus& vm : vms) page.Sample({{"vm_id", vm.id}}, value(vm));
}

// One counter family with a sample per device of every VM.
void PerDevice(PrometheusText& page, const std::vector<VmStatus>& vms, const char* name,
               const char* help, const std::function<uint64_t(const DeviceStatus&)>& value) {
  page.Family(name, Type::kCounter, help);
  for (const VmStatus& vm : vms) {
    for (const DeviceStatus& device : vm.devices) {
      page.Sample({{"vm_id", vm.id}, {"device", device.id}, {"kind", device.kind}}, value(device));
    }
  }
}

}  // namespace

void WriteVmMetrics(const std::vector<VmStatus>& vms, PrometheusText& page) {
  page.Family("vmmd_vms", Type::kGauge, "VMs on this host, by state (deleted VMs are gone).");
  for (VmState state : kStates) {
    uint64_t count = 0;
    for (const VmStatus& vm : vms) count += vm.state == state ? 1 : 0;
    page.Sample({{"state", StateLabel(state)}}, count);
  }

  page.Family("vmmd_vm_info", Type::kGauge, "1 for the state each VM is in, 0 for the others.");
  for (const VmStatus& vm : vms) {
    for (VmState state : kStates) {
      page.Sample({{"vm_id", vm.id}, {"state", StateLabel(state)}}, uint64_t{vm.state == state});
    }
  }

  page.Family("vmmd_vm_labels", Type::kGauge, "Each VM's labels, as label_<key> (keys sanitized).");
  for (const VmStatus& vm : vms) {
    Labels labels = {{"vm_id", vm.id}};
    std::set<std::string> names = {"vm_id"};
    for (const auto& [key, value] : vm.labels) {
      std::string name = absl::StrCat("label_", SanitizedLabelName(key));
      // Two keys that sanitize alike: the first (in key order) is kept.
      if (!names.insert(name).second) continue;
      labels.emplace_back(*names.find(name), value);
    }
    page.Sample(labels, uint64_t{1});
  }

  PerVm(page, vms, "vmmd_vm_vcpus", Type::kGauge, "vCPUs of each VM.",
        [](const VmStatus& vm) { return vm.vcpu_count; });
  PerVm(page, vms, "vmmd_vm_memory_bytes", Type::kGauge, "Guest memory of each VM, in bytes.",
        [](const VmStatus& vm) { return vm.memory_mib << 20; });

  page.Family("vmmd_vcpu_exits_total", Type::kCounter,
              "Exits from KVM_RUN to vmmd, by vCPU and kind (what KVM handles in the kernel is not counted).");
  for (const VmStatus& vm : vms) {
    for (size_t vcpu = 0; vcpu < vm.vcpu_exits.size(); ++vcpu) {
      for (size_t kind = 0; kind < kVcpuExitKinds; ++kind) {
        page.Sample({{"vm_id", vm.id}, {"vcpu", absl::StrCat(vcpu)}, {"kind", kVcpuExitKindNames[kind]}},
                    vm.vcpu_exits[vcpu][kind]);
      }
    }
  }

  page.Family("vmmd_unhandled_exits_total", Type::kCounter,
              "Guest accesses to ports (io) and MMIO addresses (mmio) no device claims.");
  for (const VmStatus& vm : vms) {
    page.Sample({{"vm_id", vm.id}, {"space", "io"}}, vm.unhandled_io);
    page.Sample({{"vm_id", vm.id}, {"space", "mmio"}}, vm.unhandled_mmio);
  }

  PerVm(page, vms, "vmmd_console_bytes_total", Type::kCounter, "Bytes each guest wrote to its serial console.",
        [](const VmStatus& vm) { return vm.console_bytes; });
  page.Family("vmmd_console_log_dropped_bytes_total", Type::kCounter,
              "Console bytes not written to the VM's log file (--console_log_dir), by reason.");
  for (const VmStatus& vm : vms) {
    if (!vm.console_log) continue;
    page.Sample({{"vm_id", vm.id}, {"reason", "rate"}}, vm.console_log->rate_dropped_bytes);
    page.Sample({{"vm_id", vm.id}, {"reason", "backlog"}}, vm.console_log->backlog_dropped_bytes);
    page.Sample({{"vm_id", vm.id}, {"reason", "write_error"}}, vm.console_log->lost_bytes);
  }

  PerDevice(page, vms, "vmmd_device_requests_total", "Requests (descriptor chains) each device served.",
            [](const DeviceStatus& d) { return d.device.requests; });
  PerDevice(page, vms, "vmmd_device_read_bytes_total",
            "Bytes each device moved into its guest (block reads, entropy, network and vsock receive).",
            [](const DeviceStatus& d) { return d.device.bytes_read; });
  PerDevice(page, vms, "vmmd_device_written_bytes_total",
            "Bytes each device took from its guest (block writes, network and vsock send).",
            [](const DeviceStatus& d) { return d.device.bytes_written; });
  PerDevice(page, vms, "vmmd_device_errors_total", "Requests each device answered with an error.",
            [](const DeviceStatus& d) { return d.device.errors; });
  PerDevice(page, vms, "vmmd_device_notifications_total", "Queue notifications each device served.",
            [](const DeviceStatus& d) { return d.transport.notifications; });
  PerDevice(page, vms, "vmmd_device_interrupts_total", "Interrupts each device raised.",
            [](const DeviceStatus& d) { return d.transport.interrupts; });
  PerDevice(page, vms, "vmmd_device_packets_received_total", "Packets each network or vsock device passed into its guest.",
            [](const DeviceStatus& d) { return d.device.packets_received; });
  PerDevice(page, vms, "vmmd_device_packets_sent_total", "Packets each network or vsock device took from its guest.",
            [](const DeviceStatus& d) { return d.device.packets_sent; });
  PerDevice(page, vms, "vmmd_device_drops_total",
            "Packets each network or vsock device dropped (no guest buffers, a full host side, malformed).",
            [](const DeviceStatus& d) { return d.device.drops; });
  PerDevice(page, vms, "vmmd_device_refused_accesses_total",
            "Register accesses and status changes each device's transport refused.",
            [](const DeviceStatus& d) { return d.transport.refused_accesses + d.transport.refused_transitions; });
  PerDevice(page, vms, "vmmd_device_needs_reset_total", "Times a driver broke one of the device's queues.",
            [](const DeviceStatus& d) { return d.transport.needs_reset; });
}

}  // namespace vmmd::metrics
