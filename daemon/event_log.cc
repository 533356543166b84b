#include "daemon/event_log.h"

namespace vmmd {

void EventLog::Append(VmState state, std::string reason) {
  std::vector<absl::AnyInvocable<void() &&>> wakes;
  {
    MutexLock lock(&mutex_);
    events_.push_back({next_sequence_++, state, std::move(reason), absl::Now()});
    if (events_.size() > kMaxEvents) events_.pop_front();
    wakes = TakeReadyWakesLocked();
  }
  for (auto& wake : wakes) std::move(wake)();
}

void EventLog::Close() {
  std::vector<absl::AnyInvocable<void() &&>> wakes;
  {
    MutexLock lock(&mutex_);
    closed_ = true;
    wakes = TakeReadyWakesLocked();
  }
  for (auto& wake : wakes) std::move(wake)();
}

std::vector<absl::AnyInvocable<void() &&>> EventLog::TakeReadyWakesLocked() {
  std::vector<absl::AnyInvocable<void() &&>> wakes;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (closed_ || next_sequence_ > it->second.from) {
      wakes.push_back(std::move(it->second.wake));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  return wakes;
}

uint64_t EventLog::WakeWhenReadable(uint64_t from, absl::AnyInvocable<void() &&> wake) {
  {
    MutexLock lock(&mutex_);
    if (!closed_ && next_sequence_ <= from) {
      const uint64_t id = next_waiter_id_++;
      waiters_.emplace(id, Waiter{from, std::move(wake)});
      return id;
    }
  }
  std::move(wake)();
  return 0;
}

void EventLog::CancelWake(uint64_t id) {
  MutexLock lock(&mutex_);
  waiters_.erase(id);
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
