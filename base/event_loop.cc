#include "base/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/errno_status.h"
#include "base/status_macros.h"

namespace vmmd {
namespace {

// epoll_event.data of the wake-up eventfd; registrations are numbered from 1.
constexpr uint64_t kWakeId = 0;
// Ready fds taken per epoll_wait. More wait for the next call: level-triggered epoll reports
// them again, and rotates its ready list, so none starves.
constexpr int kMaxEventsPerWait = 64;

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(std::string name,
                                                             size_t max_queued_tasks) {
  if (max_queued_tasks == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": an event loop needs room for at least one queued task"));
  }
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat(name, ": epoll_create1(EPOLL_CLOEXEC)"));
  }
  UniqueFd epoll(epoll_fd);
  absl::StatusOr<EventFd> wake = EventFd::Create();
  if (!wake.ok()) {
    return absl::Status(wake.status().code(), absl::StrCat(name, ": ", wake.status().message()));
  }
  epoll_event event = {};
  event.events = EPOLLIN;
  event.data.u64 = kWakeId;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake->fd(), &event) < 0) {
    return ::vmmd::ErrnoToStatus(
        errno, absl::StrCat(name, ": epoll_ctl(EPOLL_CTL_ADD, wake eventfd ", wake->fd(), ")"));
  }
  // Not make_unique: the constructor is private.
  std::unique_ptr<EventLoop> loop(
      new EventLoop(std::move(name), max_queued_tasks, std::move(epoll), *std::move(wake)));
  EventLoop* const raw = loop.get();
  MutexLock lock(&loop->join_mutex_);
  loop->thread_ = std::thread([raw] {
    // Thread names are at most 15 characters; keep the end, which names the VM's role.
    const std::string& name = raw->name_;
    const std::string short_name = name.size() > 15 ? name.substr(name.size() - 15) : name;
    pthread_setname_np(pthread_self(), short_name.c_str());
    raw->Run();
  });
  loop->loop_thread_id_ = loop->thread_.get_id();
  return loop;
}

EventLoop::EventLoop(std::string name, size_t max_queued_tasks, UniqueFd epoll_fd,
                     EventFd wake)
    : name_(std::move(name)),
      max_queued_tasks_(max_queued_tasks),
      epoll_fd_(std::move(epoll_fd)),
      wake_(std::move(wake)) {}

EventLoop::~EventLoop() { Stop(); }

absl::Status EventLoop::Add(int fd, uint32_t events, Handler handler) {
  if (fd < 0 || !handler) {
    return absl::InvalidArgumentError(absl::StrCat(
        name_, ": Add(fd=", fd, ") needs a valid fd and a handler"));
  }
  MutexLock lock(&mutex_);
  if (stopping_) return stopped_;
  if (ids_by_fd_.count(fd) != 0) {
    return absl::AlreadyExistsError(absl::StrCat(name_, ": fd ", fd, " is already watched"));
  }
  const uint64_t id = next_id_++;
  epoll_event event = {};
  event.events = events;
  event.data.u64 = id;
  // Under the lock, so that the set and the maps change together; epoll_wait on the loop
  // thread sees the new fd from now on.
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
    return ::vmmd::ErrnoToStatus(errno,
                                 absl::StrCat(name_, ": epoll_ctl(EPOLL_CTL_ADD, fd=", fd, ")"));
  }
  ids_by_fd_.emplace(fd, id);
  registrations_.emplace(id, std::make_shared<Registration>(Registration{fd, std::move(handler)}));
  return absl::OkStatus();
}

absl::Status EventLoop::Remove(int fd) {
  // Taken out of the map here and dropped when Remove returns, after the loop thread let go of
  // its own reference: the handler is destroyed on this thread, not under the lock.
  std::shared_ptr<Registration> removed;
  absl::Status status;
  {
    MutexLock lock(&mutex_);
    auto by_fd = ids_by_fd_.find(fd);
    if (by_fd == ids_by_fd_.end()) {
      return absl::NotFoundError(absl::StrCat(name_, ": fd ", fd, " is not watched"));
    }
    const uint64_t id = by_fd->second;
    ids_by_fd_.erase(by_fd);
    auto by_id = registrations_.find(id);
    removed = std::move(by_id->second);
    registrations_.erase(by_id);
    // From here Dispatch finds no registration for `id`: the handler is not called again.
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr) < 0) {
      status = ::vmmd::ErrnoToStatus(
          errno, absl::StrCat(name_, ": epoll_ctl(EPOLL_CTL_DEL, fd=", fd,
                              ") (was the fd closed before Remove?)"));
    }
    // On the loop thread the running handler, if any, is our caller: waiting would deadlock.
    if (!OnLoopThread()) {
      auto done = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return running_id_ != id;
      };
      mutex_.Await(absl::Condition(&done));
    }
  }
  return status;
}

absl::Status EventLoop::Post(Task task) {
  {
    MutexLock lock(&mutex_);
    if (stopping_) return stopped_;
    if (tasks_.size() >= max_queued_tasks_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          name_, ": ", tasks_.size(), " tasks are already queued, the most it holds"));
    }
    tasks_.push_back(std::move(task));
  }
  wake_.Signal();
  return absl::OkStatus();
}

absl::Status EventLoop::RunAndWait(absl::FunctionRef<void()> work) {
  if (OnLoopThread()) {
    work();
    return absl::OkStatus();
  }
  struct Completion {
    Mutex mutex;
    bool done ABSL_GUARDED_BY(mutex) = false;  // the task ran or was destroyed unrun
    bool ran ABSL_GUARDED_BY(mutex) = false;
  };
  // Marks the completion done when the task is destroyed: after it ran, or unrun when the
  // loop stops. Only then may `work` (a reference to the caller's) go.
  class DoneOnDestruction {
   public:
    explicit DoneOnDestruction(std::shared_ptr<Completion> completion)
        : completion_(std::move(completion)) {}
    DoneOnDestruction(DoneOnDestruction&& other) noexcept = default;
    ~DoneOnDestruction() {
      if (completion_ == nullptr) return;
      MutexLock lock(&completion_->mutex);
      completion_->done = true;
    }
    Completion& completion() { return *completion_; }

   private:
    std::shared_ptr<Completion> completion_;
  };
  auto completion = std::make_shared<Completion>();
  RETURN_IF_ERROR(Post([done = DoneOnDestruction(completion), work]() mutable {
    work();
    Completion& ran = done.completion();
    MutexLock lock(&ran.mutex);
    ran.ran = true;
  }));
  MutexLock lock(&completion->mutex);
  completion->mutex.Await(absl::Condition(&completion->done));
  if (!completion->ran) {
    return absl::FailedPreconditionError(absl::StrCat(name_, " stopped before the work ran"));
  }
  return absl::OkStatus();
}

void EventLoop::Stop() {
  {
    MutexLock lock(&mutex_);
    if (!stopping_) {
      stopping_ = true;
      stopped_ = absl::FailedPreconditionError(absl::StrCat(name_, " has stopped"));
    }
  }
  wake_.Signal();
  if (OnLoopThread()) return;  // the loop exits when the running handler or task returns
  MutexLock lock(&join_mutex_);
  if (thread_.joinable()) thread_.join();
}

bool EventLoop::Stopping() {
  MutexLock lock(&mutex_);
  return stopping_;
}

void EventLoop::Run() {
  epoll_event events[kMaxEventsPerWait];
  bool running = true;
  while (running) {
    const int count = ::epoll_wait(epoll_fd_.get(), events, kMaxEventsPerWait, /*timeout=*/-1);
    if (count < 0) {
      // A signal (a debugger's, a profiler's) interrupts the wait whatever SA_RESTART says.
      if (errno == EINTR) continue;
      // Nothing else can fail on a valid epoll fd and buffer; should it, the loop stops and
      // says why to every later Add and Post.
      absl::Status error = ::vmmd::ErrnoToStatus(errno, absl::StrCat(name_, ": epoll_wait"));
      MutexLock lock(&mutex_);
      stopping_ = true;
      stopped_ = std::move(error);
      break;
    }
    bool woken = false;
    for (int i = 0; i < count && running; ++i) {
      if (events[i].data.u64 == kWakeId) {
        woken = true;
      } else {
        running = Dispatch(events[i].data.u64, events[i].events);
      }
    }
    if (!running) break;
    if (woken) {
      // Reset before taking the tasks: a Post after this point signals again, so its task is
      // either taken below or wakes the next epoll_wait.
      wake_.Consume();
      running = RunTasks();
    }
  }
  // Tasks that never ran are destroyed here, on the loop thread, outside the lock.
  std::deque<Task> dropped;
  {
    MutexLock lock(&mutex_);
    dropped.swap(tasks_);
  }
}

bool EventLoop::Dispatch(uint64_t id, uint32_t ready_events) {
  std::shared_ptr<Registration> registration;
  {
    MutexLock lock(&mutex_);
    if (stopping_) return false;
    auto it = registrations_.find(id);
    // Removed since epoll_wait reported it (by an earlier handler in this round, or by
    // another thread).
    if (it == registrations_.end()) return true;
    registration = it->second;
    running_id_ = id;
  }
  registration->handler(ready_events);
  // Let go before saying the handler is done, so that a Remove waiting for it holds the last
  // reference and destroys the handler on its own thread.
  registration.reset();
  MutexLock lock(&mutex_);
  running_id_ = 0;
  return true;
}

bool EventLoop::RunTasks() {
  std::deque<Task> tasks;
  {
    MutexLock lock(&mutex_);
    if (stopping_) return false;
    tasks.swap(tasks_);
  }
  while (!tasks.empty()) {
    Task task = std::move(tasks.front());
    tasks.pop_front();
    std::move(task)();
    if (Stopping()) return false;  // the rest are destroyed with `tasks`
  }
  return true;
}

}  // namespace vmmd
