// VcpuControl: the pause and stop requests a VM's vCPU threads check between KVM_RUN calls,
// and what the lifecycle learns back (how many threads are parked, how many still live).
// Requests only take effect once the threads are out of KVM_RUN: whoever makes one also kicks
// the vCPUs (Vcpu::RequestExit). Any thread; one mutex of its own, taken after
// VirtualMachine's when both are held.
#ifndef VMMD_DAEMON_VCPU_CONTROL_H_
#define VMMD_DAEMON_VCPU_CONTROL_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace vmmd {

class VcpuControl {
 public:
  // Asks every vCPU thread to end. The first reason wins; returns whether this call made the
  // request.
  bool RequestStop(std::string reason);
  bool stop_requested() const;
  std::string stop_reason() const;  // empty until a stop is requested

  // Pausing parks each thread at its next check; resuming lets them run on.
  void SetPaused(bool paused);

  // Before the threads start: how many there will be.
  void ThreadsStarting(size_t count);
  // A vCPU thread's check between runs: parks while paused, then returns whether the thread
  // may run the guest again (false once a stop is requested).
  bool WaitUntilRunnable();
  // The last thing a vCPU thread does.
  void ThreadEnded();

  // After SetPaused(true) and a kick: waits until every live thread is parked. OK then;
  // FAILED_PRECONDITION when a stop came first; DEADLINE_EXCEEDED saying how many parked by
  // `deadline`, and then the pause is withdrawn (the parked ones run on).
  absl::Status AwaitAllParked(absl::Time deadline);

 private:
  bool RunnableOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !paused_ || stop_requested_;
  }
  bool AllParkedOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return stop_requested_ || parked_ == live_;
  }

  mutable Mutex mutex_;
  bool stop_requested_ ABSL_GUARDED_BY(mutex_) = false;
  std::string stop_reason_ ABSL_GUARDED_BY(mutex_);
  bool paused_ ABSL_GUARDED_BY(mutex_) = false;
  size_t parked_ ABSL_GUARDED_BY(mutex_) = 0;
  size_t live_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VCPU_CONTROL_H_
