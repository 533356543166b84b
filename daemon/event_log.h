// EventLog: a VM's state changes with reasons, kept (bounded) for WatchVm to replay and
// follow; and, holding every VM's (with vm_id and labels) and their deletions, the host's
// for WatchVms.
#ifndef VMMD_DAEMON_EVENT_LOG_H_
#define VMMD_DAEMON_EVENT_LOG_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "base/wake_list.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "daemon/vm_state.h"

namespace vmmd {

struct VmEventRecord {
  uint64_t sequence = 0;
  VmState state = VmState::kCreated;
  std::string reason;
  absl::Time time;
  // The host's log only: whose event, its labels, and whether the VM is gone.
  std::string vm_id;
  std::map<std::string, std::string> labels;
  bool deleted = false;
};

class EventLog {
 public:
  // Oldest events are dropped beyond `capacity`; a VM has a handful in its life.
  static constexpr size_t kMaxEvents = 256;
  explicit EventLog(size_t capacity = kMaxEvents) : capacity_(capacity) {}

  void Append(VmState state, std::string reason);
  // `record` as the next event (its sequence and time are set here).
  void Append(VmEventRecord record);
  // The sequence the next event will have.
  uint64_t next_sequence();
  // No more events (the VM was deleted): wakes followers.
  void Close();

  struct Batch {
    std::vector<VmEventRecord> events;
    bool closed = false;
  };
  // Events with sequence >= `from`; waits up to `timeout` when there are none yet.
  Batch Read(uint64_t from, absl::Duration timeout = absl::ZeroDuration());

  // For followers that hold no thread: calls `wake` once, when an event with sequence >=
  // `from` exists or the log is closed; now (returning 0) if that is already so, else later
  // on the appending thread, with no lock of this log held. Returns an id for CancelWake.
  uint64_t WakeWhenReadable(uint64_t from, absl::AnyInvocable<void() &&> wake);
  void CancelWake(uint64_t id);

 private:
  const size_t capacity_;
  Mutex mutex_;
  std::deque<VmEventRecord> events_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mutex_) = 0;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
  WakeList wakes_ ABSL_GUARDED_BY(mutex_);  // followers waiting for a sequence
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_EVENT_LOG_H_
