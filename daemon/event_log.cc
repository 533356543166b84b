#include "daemon/event_log.h"

namespace vmmd {

void EventLog::Append(VmState state, std::string reason) {
  VmEventRecord record;
  record.state = state;
  record.reason = std::move(reason);
  Append(std::move(record));
}

void EventLog::Append(VmEventRecord record) {
  std::vector<WakeList::Wake> ready;
  {
    MutexLock lock(&mutex_);
    record.sequence = next_sequence_++;
    record.time = absl::Now();
    events_.push_back(std::move(record));
    if (events_.size() > capacity_) events_.pop_front();
    ready = wakes_.TakeReady(next_sequence_, closed_);
  }
  WakeList::Run(std::move(ready));
}

uint64_t EventLog::next_sequence() {
  MutexLock lock(&mutex_);
  return next_sequence_;
}

void EventLog::Close() {
  std::vector<WakeList::Wake> ready;
  {
    MutexLock lock(&mutex_);
    closed_ = true;
    ready = wakes_.TakeReady(next_sequence_, closed_);
  }
  WakeList::Run(std::move(ready));
}

uint64_t EventLog::WakeWhenReadable(uint64_t from, absl::AnyInvocable<void() &&> wake) {
  {
    MutexLock lock(&mutex_);
    if (!closed_ && next_sequence_ <= from) return wakes_.Add(from, std::move(wake));
  }
  std::move(wake)();
  return 0;
}

void EventLog::CancelWake(uint64_t id) {
  MutexLock lock(&mutex_);
  wakes_.Cancel(id);
}

EventLog::Batch EventLog::Read(uint64_t from, absl::Duration timeout) {
  MutexLock lock(&mutex_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return closed_ || next_sequence_ > from;
  };
  if (timeout > absl::ZeroDuration()) mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  Batch batch;
  for (const VmEventRecord& event : events_) {
    if (event.sequence >= from) batch.events.push_back(event);
  }
  batch.closed = closed_;  // every event from `from` on is in the batch
  return batch;
}

}  // namespace vmmd
