// EventLoop: one VM's loop for device work. A thread of its own waits on an epoll set and
// calls, one at a time, the handler of each file descriptor that is ready (ioeventfds for
// queue notifications, timers, backend sockets), and runs tasks posted from other threads.
// A vCPU thread never waits on a device's work: it signals an eventfd and goes back to the
// guest.
#ifndef VMMD_BASE_EVENT_LOOP_H_
#define VMMD_BASE_EVENT_LOOP_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/mutex.h"
#include "base/unique_fd.h"

namespace vmmd {

class EventLoop {
 public:
  // Called on the loop thread with the epoll events that are ready (EPOLLIN, EPOLLOUT, and
  // EPOLLHUP or EPOLLERR, which epoll always reports).
  using Handler = std::function<void(uint32_t ready_events)>;
  using Task = absl::AnyInvocable<void() &&>;

  // How many posted tasks may wait at once before Post refuses more.
  static constexpr size_t kDefaultMaxQueuedTasks = 1024;

  // Creates the epoll set (EPOLL_CLOEXEC) and its wake-up eventfd, and starts the loop thread,
  // named `name` (e.g. "vm3/events"; the kernel keeps the last 15 characters). Errors of
  // epoll_create1 and eventfd follow errno through ErrnoToStatus (EMFILE ->
  // RESOURCE_EXHAUSTED); INVALID_ARGUMENT when `max_queued_tasks` is 0.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(
      std::string name, size_t max_queued_tasks = kDefaultMaxQueuedTasks);

  // Stop(), which joins the loop thread. Handlers still added are destroyed here, on the
  // calling thread. Never destroy the loop from its own thread (a handler or task): the
  // join would deadlock, and std::thread terminates the process instead.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches `fd` (not owned) for `events` (EPOLLIN, EPOLLOUT, ...; level-triggered unless
  // EPOLLET is among them) and calls `handler` on the loop thread whenever it is ready.
  // Level-triggered means a handler that leaves its fd ready (an eventfd it does not read, a
  // hung-up socket) is called again at once: it must consume what it is woken for, or Remove
  // the fd. The fd must stay open until Remove has returned.
  // Any thread, a handler or task on the loop thread included; a handler added while the
  // loop waits is watched from then on.
  // Returns INVALID_ARGUMENT for a negative fd or an empty handler, ALREADY_EXISTS when `fd`
  // was added and not removed, FAILED_PRECONDITION once the loop has stopped, and otherwise
  // what epoll_ctl(EPOLL_CTL_ADD) fails with through ErrnoToStatus (EPERM ->
  // PERMISSION_DENIED for a file that cannot be polled, EBADF -> FAILED_PRECONDITION).
  absl::Status Add(int fd, uint32_t events, Handler handler);

  // Stops watching `fd`. When Remove returns, its handler is not running and never will run
  // again, even for readiness epoll had already reported; the owner may then close the fd.
  // - From another thread while the handler runs: waits for the handler to return, so a
  //   handler must never wait for a thread that may be in Remove.
  // - From a handler or task on the loop thread (a handler removing itself or another fd):
  //   returns at once; no other handler is running, and a handler that removed itself
  //   finishes its current call.
  // The handler object is destroyed before Remove returns, or, when a handler removed itself,
  // as soon as its call returns. Works after Stop too.
  // Returns NOT_FOUND when `fd` is not added. If the fd was closed before Remove, the handler
  // is still forgotten, and epoll_ctl(EPOLL_CTL_DEL)'s EBADF comes back as
  // FAILED_PRECONDITION: close after Remove, never before (a closed fd whose file lives on,
  // shared with KVM as an ioeventfd, say, stays in the epoll set and wakes it in vain).
  absl::Status Remove(int fd);

  // Runs `task` on the loop thread, after the handlers of the current round of ready fds;
  // tasks run in the order they were posted. Any thread, the loop's own included (the task
  // then runs later, not inline). Returns RESOURCE_EXHAUSTED when `max_queued_tasks` tasks
  // are already waiting, FAILED_PRECONDITION once the loop has stopped; the task is then
  // destroyed without running. Tasks still queued when the loop stops are destroyed without
  // running, on the loop thread.
  absl::Status Post(Task task);

  // Runs `work` on the loop thread, as a task, and returns once it has run: while it runs no
  // handler or other task does, so it sees every device the loop serves at rest (a
  // snapshot's reading of their states and of guest memory). From the loop thread itself it
  // runs inline. FAILED_PRECONDITION when the loop stops first (`work` then never runs), and
  // Post's RESOURCE_EXHAUSTED. Never call it from a thread a handler may wait for.
  absl::Status RunAndWait(absl::FunctionRef<void()> work);

  // Makes the loop exit after the handler or task that is running, if any. Idempotent; any
  // thread. From another thread it also waits for the loop thread to end, so when it
  // returns no handler or task is running or will run. From the loop thread (a handler or
  // task) it returns at once and the loop exits when that call returns.
  void Stop();

  // Whether the caller is the loop thread (a handler or task).
  bool OnLoopThread() const { return std::this_thread::get_id() == loop_thread_id_; }
  const std::string& name() const { return name_; }

 private:
  struct Registration {
    int fd;
    Handler handler;
  };

  EventLoop(std::string name, size_t max_queued_tasks, UniqueFd epoll_fd, EventFd wake);

  void Run();
  // Calls the handler registered as `id`, if it still is; false once the loop is stopping.
  bool Dispatch(uint64_t id, uint32_t ready_events);
  // Runs the tasks queued now; false once the loop is stopping.
  bool RunTasks();
  bool Stopping();

  const std::string name_;
  const size_t max_queued_tasks_;
  const UniqueFd epoll_fd_;
  EventFd wake_;  // registered with id kWakeId: Post and Stop signal it

  Mutex mutex_;
  // Each Add gets a new id (from 1), which epoll hands back in epoll_event.data: an event
  // reported for an fd removed meanwhile, even one added again since, finds no registration.
  uint64_t next_id_ ABSL_GUARDED_BY(mutex_) = 1;
  std::map<uint64_t, std::shared_ptr<Registration>> registrations_ ABSL_GUARDED_BY(mutex_);
  std::map<int, uint64_t> ids_by_fd_ ABSL_GUARDED_BY(mutex_);
  // The registration whose handler the loop thread is calling; 0 when none.
  uint64_t running_id_ ABSL_GUARDED_BY(mutex_) = 0;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Why Add and Post are refused: "<name> has stopped", or epoll_wait's error.
  absl::Status stopped_ ABSL_GUARDED_BY(mutex_);

  // Set by Create before the loop can call anything that reads it (a handler or task, which
  // only exists after Create returns); never changed after.
  std::thread::id loop_thread_id_;
  Mutex join_mutex_;  // concurrent Stop calls join once
  std::thread thread_ ABSL_GUARDED_BY(join_mutex_);
};

}  // namespace vmmd

#endif  // VMMD_BASE_EVENT_LOOP_H_
