// vmmd::Mutex and vmmd::MutexLock: absl::Mutex and absl::MutexLock, except under
// ThreadSanitizer.
//
// Debian's Abseil is built without TSan's annotations, so TSan cannot see absl::Mutex lock
// and unlock and reports every access it guards as a race. Under --config=tsan (which
// defines VMMD_TSAN) these names are a small std::mutex-based mutex with the part of
// absl::Mutex's interface vmmd uses: Lock, Unlock, Await and AwaitWithTimeout on an
// absl::Condition. Code uses vmmd::Mutex throughout, with the same thread-safety
// annotations in both builds.
#ifndef VMMD_BASE_MUTEX_H_
#define VMMD_BASE_MUTEX_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#ifdef VMMD_TSAN
#include <chrono>
#include <condition_variable>
#include <mutex>
#endif

namespace vmmd {

#ifndef VMMD_TSAN

using Mutex = absl::Mutex;
using MutexLock = absl::MutexLock;

#else

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mutex_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    // As absl::Mutex does, waiters re-check their conditions whenever the lock is released.
    changed_.notify_all();
    mutex_.unlock();
  }

  // With the lock held: releases it until `condition` holds, then holds it again.
  void Await(const absl::Condition& condition) {
    AwaitWithTimeout(condition, absl::InfiniteDuration());
  }
  // As Await, giving up after `timeout`; returns whether the condition holds.
  bool AwaitWithTimeout(const absl::Condition& condition, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mutex_, std::adopt_lock);
    // Releasing the lock here is a release like Unlock: other waiters re-check.
    changed_.notify_all();
    bool met;
    if (timeout >= absl::Hours(24 * 365)) {  // "infinite": wait_for would overflow
      changed_.wait(lock, [&] { return condition.Eval(); });
      met = true;
    } else {
      met = changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                              [&] { return condition.Eval(); });
    }
    lock.release();
    return met;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mutex) ABSL_EXCLUSIVE_LOCK_FUNCTION(mutex) : mutex_(mutex) {
    mutex_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mutex_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mutex_;
};

#endif  // VMMD_TSAN

}  // namespace vmmd

#endif  // VMMD_BASE_MUTEX_H_
