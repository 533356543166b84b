#include "daemon/worker_thread.h"

#include <pthread.h>

#include "glog/logging.h"

namespace vmmd {

WorkerThread::WorkerThread(std::string name, std::string shut_down_message)
    : name_(std::move(name)),
      shut_down_message_(shut_down_message.empty() ? absl::StrCat(name_, " has shut down")
                                                   : std::move(shut_down_message)) {
  thread_ = std::thread([this] {
    // Thread names are at most 15 characters; keep the end, which names the VM's role.
    std::string short_name = name_.size() > 15 ? name_.substr(name_.size() - 15) : name_;
    pthread_setname_np(pthread_self(), short_name.c_str());
    Loop();
  });
}

WorkerThread::~WorkerThread() { Shutdown(); }

bool WorkerThread::Post(absl::AnyInvocable<void() &&> task) {
  MutexLock lock(&mutex_);
  if (stopping_) return false;
  tasks_.push_back(std::move(task));
  return true;
}

void WorkerThread::Shutdown() {
  {
    MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void WorkerThread::SetPeriodicTask(absl::Duration period, absl::AnyInvocable<void()> task) {
  CHECK(OnWorkerThread()) << name_ << ": periodic tasks are set on the worker";
  CHECK(period > absl::ZeroDuration()) << name_ << ": a periodic task needs a period";
  periodic_task_ = std::move(task);
  period_ = period;
  next_tick_ = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(period);
}

void WorkerThread::ClearPeriodicTask() {
  CHECK(OnWorkerThread()) << name_ << ": periodic tasks are cleared on the worker";
  periodic_task_ = nullptr;
}

void WorkerThread::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    bool tick = false;
    {
      MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !tasks_.empty();
      };
      if (periodic_task_) {
        mutex_.AwaitWithTimeout(absl::Condition(&ready),
                                absl::FromChrono(next_tick_ - std::chrono::steady_clock::now()));
        tick = std::chrono::steady_clock::now() >= next_tick_;
      } else {
        mutex_.Await(absl::Condition(&ready));
      }
      if (!tick) {
        if (tasks_.empty()) {
          if (stopping_) return;  // and everything queued has run
          continue;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
    }
    if (tick) {
      periodic_task_();
      next_tick_ = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(period_);
    } else {
      std::move(task)();
    }
  }
}

}  // namespace vmmd
