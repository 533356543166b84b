#include "daemon/vcpu_control.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace vmmd {

bool VcpuControl::RequestStop(std::string reason) {
  MutexLock lock(&mutex_);
  if (stop_requested_) return false;
  stop_requested_ = true;
  stop_reason_ = std::move(reason);
  return true;
}

bool VcpuControl::stop_requested() const {
  MutexLock lock(&mutex_);
  return stop_requested_;
}

std::string VcpuControl::stop_reason() const {
  MutexLock lock(&mutex_);
  return stop_reason_;
}

void VcpuControl::SetPaused(bool paused) {
  MutexLock lock(&mutex_);
  paused_ = paused;
}

void VcpuControl::ThreadsStarting(size_t count) {
  MutexLock lock(&mutex_);
  live_ = count;
}

bool VcpuControl::WaitUntilRunnable() {
  MutexLock lock(&mutex_);
  if (paused_ && !stop_requested_) {
    ++parked_;
    mutex_.Await(absl::Condition(this, &VcpuControl::RunnableOrStopping));
    --parked_;
  }
  return !stop_requested_;
}

void VcpuControl::ThreadEnded() {
  MutexLock lock(&mutex_);
  --live_;
}

absl::Status VcpuControl::AwaitAllParked(absl::Time deadline) {
  MutexLock lock(&mutex_);
  // AwaitWithTimeout: the TSan build's Mutex (base/mutex.h) has no AwaitWithDeadline.
  if (!mutex_.AwaitWithTimeout(absl::Condition(this, &VcpuControl::AllParkedOrStopping),
                               std::max(deadline - absl::Now(), absl::ZeroDuration()))) {
    paused_ = false;
    return absl::DeadlineExceededError(
        absl::StrFormat("%d of %d vCPUs parked before the deadline", parked_, live_));
  }
  if (stop_requested_) return absl::FailedPreconditionError("VM stopped while pausing");
  return absl::OkStatus();
}

}  // namespace vmmd
