// VcpuRunner: the loop of one vCPU thread. It runs KVM_RUN until VcpuControl says stop,
// parking while paused, and hands every port and MMIO exit to the buses, which route it by
// address: no device is named here, so adding one never edits the loop. The guest's own ends
// (reset, triple fault, KVM errors, HLT) reach the lifecycle through one callback, "stop,
// with this reason".
#ifndef VMMD_DAEMON_VCPU_RUNNER_H_
#define VMMD_DAEMON_VCPU_RUNNER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "daemon/vcpu_control.h"
#include "devices/io_bus.h"
#include "devices/mmio_bus.h"
#include "kvm/vcpu.h"

namespace vmmd {

// Exits that no device answered, across a VM's vCPUs (GetVm reports them).
struct UnhandledExitCounters {
  std::atomic<uint64_t> io{0};
  std::atomic<uint64_t> mmio{0};
};

// One vCPU's exits to vmmd, by kind (kVcpuExitKindNames): what KVM handled in the kernel
// never reaches it. Written by the vCPU's thread, read by anyone.
class VcpuExitCounters {
 public:
  void Count(const VcpuExit& exit) { counts_[exit.index()].fetch_add(1, std::memory_order_relaxed); }
  std::array<uint64_t, kVcpuExitKinds> Read() const {
    std::array<uint64_t, kVcpuExitKinds> counts;
    for (size_t i = 0; i < kVcpuExitKinds; ++i) counts[i] = counts_[i].load(std::memory_order_relaxed);
    return counts;
  }

 private:
  std::array<std::atomic<uint64_t>, kVcpuExitKinds> counts_{};
};

class VcpuRunner {
 public:
  struct Wiring {
    IoBus* io_bus = nullptr;
    MmioBus* mmio_bus = nullptr;
    VcpuControl* control = nullptr;
    UnhandledExitCounters* unhandled = nullptr;
    VcpuExitCounters* exits = nullptr;  // this vCPU's
    // Called after every KVM_RUN, before its exit is handled: replays writes KVM queued
    // instead of exiting (daemon/coalesced_port_writes.h), which came first. May be empty.
    std::function<void()> after_run;
    // Ends the VM (the first reason wins); called from this vCPU's thread.
    std::function<void(std::string reason)> stop_guest;
  };

  // `vm_id` names the VM in logs. Everything in `wiring` must outlive the runner.
  VcpuRunner(std::string vm_id, Vcpu& vcpu, Wiring wiring)
      : vm_id_(std::move(vm_id)), vcpu_(vcpu), wiring_(std::move(wiring)) {}

  // On the vCPU's thread: runs the guest until a stop is requested or the guest ends.
  void Run();

 private:
  // Handles one exit; returns false when the loop must end.
  bool Dispatch(VcpuExit& exit);

  const std::string vm_id_;
  Vcpu& vcpu_;
  const Wiring wiring_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VCPU_RUNNER_H_
