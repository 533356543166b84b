// CoalescedPortWrites: lets KVM queue a guest's writes to one port (COM1's THR) in the VM's
// coalesced ring instead of exiting to vmmd on each, and replays them to the I/O bus. A guest
// that floods its console then exits to vmmd once per ring-full (85 to 169 writes, by kernel
// version), not once per byte (docs/benchmarks.md has the figures).
//
// Replay keeps the guest's order: vCPU threads call Flush() after every KVM_RUN, before they
// handle the exit; the VM's worker calls it on a timer, for a vCPU that writes and then stops
// exiting (a guest that prints and halts), and once more after the vCPUs have stopped.
// Queueing is on only while the device allows it (Follow(Serial::TransmitCanBeDeferred)), so a
// guest that transmits on THR-empty interrupts still gets one interrupt per byte.
#ifndef VMMD_DAEMON_COALESCED_PORT_WRITES_H_
#define VMMD_DAEMON_COALESCED_PORT_WRITES_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "devices/io_bus.h"
#include "kvm/coalesced_io_ring.h"
#include "kvm/kvm_system.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace vmmd {

class CoalescedPortWrites {
 public:
  // Turning queueing on costs KVM an SRCU grace period (KVM_REGISTER_COALESCED_MMIO), and a
  // guest decides how often it happens (each flip of IER's THR-empty bit). At most this many
  // per second; beyond it, writes exit one by one (always correct) until the next second.
  static constexpr int kMaxEnablesPerSecond = 20;

  // For byte writes to `port`, replayed into `bus`. `vm` and `bus` must outlive it; `vcpu` is
  // any vCPU of `vm` (the ring is mapped through it). UNIMPLEMENTED when KVM lacks
  // KVM_CAP_COALESCED_PIO; starts off.
  // `now` is the clock of the enable budget (tests pass their own).
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static absl::StatusOr<std::unique_ptr<CoalescedPortWrites>> Create(
      const KvmSystem& kvm, Vm& vm, const Vcpu& vcpu, IoBus& bus, uint16_t port,
      Clock now = [] { return std::chrono::steady_clock::now(); });

  // Replays what KVM has queued. Any thread; cheap when nothing is queued.
  void Flush();

  // Turns queueing on or off to match `allowed()`, asked under the lock so that concurrent
  // callers end in the state of the device's last change. Turning off replays what was queued
  // before it returns, so later writes exit in order behind them. Any thread. Fails only when
  // queueing cannot be turned off; when it cannot be turned on, it is logged once and stays
  // off (writes exit one by one: slower, not wrong).
  absl::Status Follow(absl::FunctionRef<bool()> allowed);

  bool enabled() const { return enabled_.load(std::memory_order_acquire); }
  // Writes replayed from the ring so far.
  uint64_t replayed() const { return replayed_.load(std::memory_order_relaxed); }

 private:
  CoalescedPortWrites(Vm& vm, std::unique_ptr<CoalescedIoRing> ring, IoBus& bus, uint16_t port,
                      Clock now)
      : vm_(vm), ring_(std::move(ring)), bus_(bus), port_(port), now_(std::move(now)) {}
  void DrainLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool MayEnableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Vm& vm_;
  const std::unique_ptr<CoalescedIoRing> ring_;
  IoBus& bus_;
  const uint16_t port_;
  const Clock now_;
  Mutex mutex_;  // one consumer of the ring at a time; serialises registration changes
  std::atomic<bool> enabled_{false};  // written under mutex_
  bool failed_to_enable_ ABSL_GUARDED_BY(mutex_) = false;  // then it stays off
  std::atomic<uint64_t> replayed_{0};
  std::chrono::steady_clock::time_point budget_start_ ABSL_GUARDED_BY(mutex_);
  int enables_in_budget_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_COALESCED_PORT_WRITES_H_
