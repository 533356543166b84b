// WorkerThread: one named thread that runs posted tasks in order. Each VM has one; it owns
// the VM's KVM objects and guest memory, so every change to them is serialised here.
#ifndef VMMD_DAEMON_WORKER_THREAD_H_
#define VMMD_DAEMON_WORKER_THREAD_H_

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/time/time.h"

namespace vmmd {

class WorkerThread {
 public:
  // `shut_down_message`: what Call answers (UNAVAILABLE) once the worker is shutting down.
  explicit WorkerThread(std::string name, std::string shut_down_message = "");
  ~WorkerThread();  // Shutdown()
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // Queues `task`; false (and the task dropped, never run) once Shutdown has begun.
  bool Post(absl::AnyInvocable<void() &&> task);

  // Runs `fn` (returning absl::Status or absl::StatusOr<T>) on the worker and returns its
  // result. The answer is always the truth about `fn`:
  // - DEADLINE_EXCEEDED only if the worker was busy for all of `timeout` and `fn` had not
  //   started: it then never runs, so nothing changed;
  // - once `fn` has started it is waited for to the end, however long: `fn` bounds its own
  //   waits (by the deadline it is given, for one);
  // - UNAVAILABLE (the shut-down message) at once if the worker is shutting down.
  // Called on the worker itself, runs inline.
  template <typename Fn>
  auto Call(Fn fn, absl::Duration timeout) -> decltype(fn());

  // Runs `task` on the worker every `period` (between posted tasks, never during one) until
  // ClearPeriodicTask. Worker only, so a tick never races the change.
  void SetPeriodicTask(absl::Duration period, absl::AnyInvocable<void()> task);
  void ClearPeriodicTask();

  // Runs what is queued, then joins the thread. Idempotent; never call from the worker.
  void Shutdown();

  bool OnWorkerThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void Loop();

  const std::string name_;
  const std::string shut_down_message_;
  Mutex mutex_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Touched only on the worker.
  absl::AnyInvocable<void()> periodic_task_;
  absl::Duration period_;
  std::chrono::steady_clock::time_point next_tick_;  // steady: wall-clock steps do not stall it
  std::thread thread_;
};

template <typename Fn>
auto WorkerThread::Call(Fn fn, absl::Duration timeout) -> decltype(fn()) {
  using Result = decltype(fn());
  if (OnWorkerThread()) return fn();
  struct Reply {
    Mutex mutex;
    bool started ABSL_GUARDED_BY(mutex) = false;
    bool abandoned ABSL_GUARDED_BY(mutex) = false;  // by the caller, before it started
    std::optional<Result> result ABSL_GUARDED_BY(mutex);
  };
  auto reply = std::make_shared<Reply>();
  const bool queued = Post([reply, fn = std::move(fn)]() mutable {
    {
      MutexLock lock(&reply->mutex);
      if (reply->abandoned) return;
      reply->started = true;
    }
    Result result = fn();
    MutexLock lock(&reply->mutex);
    reply->result.emplace(std::move(result));
  });
  if (!queued) return absl::UnavailableError(shut_down_message_);
  MutexLock lock(&reply->mutex);
  auto has_result = [&reply]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reply->mutex) {
    return reply->result.has_value();
  };
  if (!reply->mutex.AwaitWithTimeout(absl::Condition(&has_result), timeout)) {
    if (!reply->started) {
      reply->abandoned = true;
      return absl::DeadlineExceededError(absl::StrCat(
          name_, " was busy for ", absl::FormatDuration(timeout),
          "; the request was not run, and nothing changed"));
    }
    reply->mutex.Await(absl::Condition(&has_result));
  }
  return std::move(*reply->result);
}

}  // namespace vmmd

#endif  // VMMD_DAEMON_WORKER_THREAD_H_
