#include "daemon/worker_thread.h"

#include <pthread.h>

namespace vmmd {

WorkerThread::WorkerThread(std::string name) : name_(std::move(name)) {
  thread_ = std::thread([this] {
    // Thread names are at most 15 characters; keep the end, which names the VM's role.
    std::string short_name = name_.size() > 15 ? name_.substr(name_.size() - 15) : name_;
    pthread_setname_np(pthread_self(), short_name.c_str());
    Loop();
  });
}

WorkerThread::~WorkerThread() { Shutdown(); }

void WorkerThread::Post(absl::AnyInvocable<void() &&> task) {
  MutexLock lock(&mutex_);
  if (stopping_) return;
  tasks_.push_back(std::move(task));
}

void WorkerThread::Shutdown() {
  {
    MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void WorkerThread::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !tasks_.empty();
      };
      mutex_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;  // stopping, and everything queued has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace vmmd
