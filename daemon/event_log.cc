#include "daemon/event_log.h"

namespace vmmd {

void EventLog::Append(VmState state, std::string reason) {
  MutexLock lock(&mutex_);
  events_.push_back({next_sequence_++, state, std::move(reason), absl::Now()});
  if (events_.size() > kMaxEvents) events_.pop_front();
}

void EventLog::Close() {
  MutexLock lock(&mutex_);
  closed_ = true;
}

EventLog::Batch EventLog::Read(uint64_t from, absl::Duration timeout) {
  MutexLock lock(&mutex_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return closed_ || next_sequence_ > from;
  };
  mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  Batch batch;
  for (const VmEventRecord& event : events_) {
    if (event.sequence >= from) batch.events.push_back(event);
  }
  batch.closed = closed_;  // every event from `from` on is in the batch
  return batch;
}

}  // namespace vmmd
