// EventLoop: handlers on the loop thread, level-triggered; Remove's guarantee from another
// thread and from a handler; Stop; tasks; no thread or fd left behind. EventFd.
#include "base/event_loop.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// A one-shot flag to wait for. Not absl::Notification: Debian's Abseil is not built for
// ThreadSanitizer, which would not see its synchronisation (base/mutex.h).
class Latch {
 public:
  void Notify() {
    MutexLock lock(&mutex_);
    notified_ = true;
  }
  void WaitForNotification() { WaitForNotificationWithTimeout(absl::InfiniteDuration()); }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    MutexLock lock(&mutex_);
    auto notified = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return notified_; };
    return mutex_.AwaitWithTimeout(absl::Condition(&notified), timeout);
  }

 private:
  Mutex mutex_;
  bool notified_ ABSL_GUARDED_BY(mutex_) = false;
};

// How long a test waits for something that should happen at once before calling it a failure.
constexpr absl::Duration kPatience = absl::Seconds(10);

std::unique_ptr<EventLoop> MakeLoop(std::string name = "test/events",
                                    size_t max_queued_tasks = EventLoop::kDefaultMaxQueuedTasks) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop =
      EventLoop::Create(std::move(name), max_queued_tasks);
  EXPECT_OK(loop);
  return loop.ok() ? *std::move(loop) : nullptr;
}

EventFd MakeEventFd() {
  absl::StatusOr<EventFd> fd = EventFd::Create();
  EXPECT_OK(fd);
  return *std::move(fd);
}

// Polls `condition` until it holds or kPatience has passed; returns whether it held.
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// Returns once the loop has finished the round of handlers it is in (or the next one): a
// task runs after the handlers of the fds epoll reported with the wake-up, so any fd still
// ready when the task was posted has had its handler called by then.
void Sync(EventLoop& loop) {
  auto done = std::make_shared<Latch>();
  ASSERT_OK(loop.Post([done] { done->Notify(); }));
  ASSERT_TRUE(done->WaitForNotificationWithTimeout(kPatience)) << "the loop did not run a task";
}

int CountEntries(const char* directory) {
  DIR* dir = ::opendir(directory);
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) ++count;
  }
  ::closedir(dir);
  return count;
}

// The process's open fds, as /proc/self/fd lists them (less the one reading it).
std::set<int> OpenFds() {
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') fds.insert(std::atoi(entry->d_name));
  }
  fds.erase(::dirfd(dir));
  ::closedir(dir);
  return fds;
}

TEST(EventFdTest, SignalsAddUpAndConsumeResets) {
  EventFd fd = MakeEventFd();
  EXPECT_EQ(fd.Consume(), 0u);  // nothing pending: no blocking, 0
  fd.Signal();
  fd.Signal();
  EXPECT_EQ(fd.Consume(), 2u);
  EXPECT_EQ(fd.Consume(), 0u);
}

TEST(EventFdTest, IsCloseOnExecAndNonBlocking) {
  EventFd fd = MakeEventFd();
  EXPECT_NE(::fcntl(fd.fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(fd.fd(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(EventLoopTest, ItsFdsAreCloseOnExec) {
  const std::set<int> before = OpenFds();
  std::unique_ptr<EventLoop> loop = MakeLoop();
  std::vector<int> added;
  for (int fd : OpenFds()) {
    if (before.count(fd) == 0) added.push_back(fd);
  }
  ASSERT_EQ(added.size(), 2u) << "the epoll set and the wake-up eventfd";
  for (int fd : added) EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "fd " << fd;
}

TEST(EventLoopTest, HandlerRunsOnTheLoopThreadWhenItsEventFdIsWritten) {
  std::unique_ptr<EventLoop> loop = MakeLoop("vm3/events");
  EventFd fd = MakeEventFd();
  std::atomic<int> calls{0};
  std::atomic<uint32_t> events{0};
  std::thread::id handler_thread;
  bool on_loop_thread = false;
  char thread_name[16] = {};
  // Added while the loop already waits in epoll_wait.
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t ready) {
    handler_thread = std::this_thread::get_id();
    on_loop_thread = loop->OnLoopThread();
    pthread_getname_np(pthread_self(), thread_name, sizeof(thread_name));
    fd.Consume();
    events = ready;
    ++calls;
  }));
  Sync(*loop);
  EXPECT_EQ(calls, 0) << "called before its fd was ready";

  fd.Signal();
  ASSERT_TRUE(Eventually([&] { return calls == 1; }));
  Sync(*loop);  // also orders the handler's writes before the reads below
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(events, static_cast<uint32_t>(EPOLLIN));
  EXPECT_TRUE(on_loop_thread);
  EXPECT_NE(handler_thread, std::this_thread::get_id());
  EXPECT_FALSE(loop->OnLoopThread());
  EXPECT_STREQ(thread_name, "vm3/events");
}

TEST(EventLoopTest, TasksRunInOrderOnTheLoopThread) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  std::vector<int> order;  // touched on the loop thread only, until Sync
  bool all_on_loop_thread = true;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(loop->Post([&, i] {
      order.push_back(i);
      all_on_loop_thread &= loop->OnLoopThread();
    }));
  }
  Sync(*loop);
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4));
  EXPECT_TRUE(all_on_loop_thread);
}

TEST(EventLoopTest, PostRefusesMoreThanTheQueueHolds) {
  std::unique_ptr<EventLoop> loop = MakeLoop("test/events", /*max_queued_tasks=*/2);
  Latch busy, release;
  ASSERT_OK(loop->Post([&] {
    busy.Notify();
    release.WaitForNotification();
  }));
  ASSERT_TRUE(busy.WaitForNotificationWithTimeout(kPatience));
  // The running task has left the queue: two more fit, the third does not.
  std::atomic<int> ran{0};
  EXPECT_OK(loop->Post([&] { ++ran; }));
  EXPECT_OK(loop->Post([&] { ++ran; }));
  EXPECT_THAT(loop->Post([&] { ++ran; }),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("2 tasks")));
  release.Notify();
  EXPECT_TRUE(Eventually([&] { return ran == 2; }));
  Sync(*loop);  // the queue has room again
  EXPECT_EQ(ran, 2);
}

TEST(EventLoopTest, ZeroQueuedTasksIsRefused) {
  EXPECT_THAT(EventLoop::Create("test/events", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("test/events")));
}

// Remove from another thread while the handler is in progress returns only after the handler
// has returned, and the handler is not called again although its fd stays readable.
TEST(EventLoopTest, RemoveFromAnotherThreadWaitsForTheRunningHandler) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  Latch entered, release;
  std::atomic<int> calls{0};
  std::atomic<bool> handler_returned{false};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    ++calls;
    entered.Notify();
    release.WaitForNotification();  // never reads: the fd stays readable
    handler_returned = true;
  }));
  fd.Signal();
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kPatience));

  Latch remove_returned;
  std::optional<bool> returned_after_handler;
  absl::Status remove_status;
  std::thread remover([&] {
    remove_status = loop->Remove(fd.fd());
    returned_after_handler = handler_returned.load();
    remove_returned.Notify();
  });
  // A Remove that did not wait would return now, with the handler still blocked.
  EXPECT_FALSE(remove_returned.WaitForNotificationWithTimeout(absl::Milliseconds(100)))
      << "Remove returned while the handler was running";
  release.Notify();
  remover.join();
  EXPECT_OK(remove_status);
  ASSERT_TRUE(returned_after_handler.has_value());
  EXPECT_TRUE(*returned_after_handler);

  Sync(*loop);
  EXPECT_EQ(calls, 1) << "called after Remove returned";
  // The fd is ours again: closing it is safe, and it is no longer watched.
  EXPECT_THAT(loop->Remove(fd.fd()), StatusIs(absl::StatusCode::kNotFound, HasSubstr("fd")));
}

// The handler is destroyed before Remove returns, not later on the loop thread: whatever it
// captured may be freed right after Remove.
TEST(EventLoopTest, RemoveDestroysTheHandlerBeforeReturning) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&fd, token](uint32_t) { fd.Consume(); }));
  token.reset();
  fd.Signal();
  Sync(*loop);
  ASSERT_FALSE(watch.expired());
  ASSERT_OK(loop->Remove(fd.fd()));
  EXPECT_TRUE(watch.expired());
}

TEST(EventLoopTest, HandlerRemovesItself) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  std::atomic<int> calls{0};
  absl::Status remove_status = absl::UnknownError("not called");
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    ++calls;
    remove_status = loop->Remove(fd.fd());  // does not wait for itself
  }));
  fd.Signal();  // never read: level-triggered, it would be called again if still watched
  ASSERT_TRUE(Eventually([&] { return calls >= 1; }));
  Sync(*loop);
  Sync(*loop);
  EXPECT_EQ(calls, 1);
  EXPECT_OK(remove_status);
  EXPECT_THAT(loop->Remove(fd.fd()), StatusIs(absl::StatusCode::kNotFound, HasSubstr("fd")));
}

// Two fds ready in the same round; whichever handler runs first removes the other, which must
// not run although epoll has already reported it.
TEST(EventLoopTest, HandlerRemovesAnotherFdAlreadyReported) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd a = MakeEventFd();
  EventFd b = MakeEventFd();
  std::atomic<int> calls{0};
  absl::Status remove_status;
  ASSERT_OK(loop->Add(a.fd(), EPOLLIN, [&](uint32_t) {
    ++calls;
    remove_status = loop->Remove(b.fd());
    a.Consume();
  }));
  ASSERT_OK(loop->Add(b.fd(), EPOLLIN, [&](uint32_t) {
    ++calls;
    remove_status = loop->Remove(a.fd());
    b.Consume();
  }));
  // Hold the loop in a task while both become ready, so one epoll_wait reports both.
  Latch busy, release;
  ASSERT_OK(loop->Post([&] {
    busy.Notify();
    release.WaitForNotification();
  }));
  ASSERT_TRUE(busy.WaitForNotificationWithTimeout(kPatience));
  a.Signal();
  b.Signal();
  release.Notify();
  ASSERT_TRUE(Eventually([&] { return calls >= 1; }));
  Sync(*loop);
  EXPECT_EQ(calls, 1);
  EXPECT_OK(remove_status);
}

TEST(EventLoopTest, HandlerAddsAnotherFd) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd a = MakeEventFd();
  EventFd b = MakeEventFd();
  std::atomic<int> b_calls{0};
  absl::Status add_status = absl::UnknownError("not called");
  ASSERT_OK(loop->Add(a.fd(), EPOLLIN, [&](uint32_t) {
    a.Consume();
    add_status = loop->Add(b.fd(), EPOLLIN, [&](uint32_t) {
      b.Consume();
      ++b_calls;
    });
  }));
  a.Signal();
  Sync(*loop);  // `a` was ready before the task was posted, so its handler ran first
  ASSERT_OK(add_status);
  b.Signal();
  EXPECT_TRUE(Eventually([&] { return b_calls == 1; }));
}

TEST(EventLoopTest, AddingTheSameFdTwiceIsRefused) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  std::atomic<int> first{0}, second{0};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    fd.Consume();
    ++first;
  }));
  EXPECT_THAT(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) { ++second; }),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already watched")));
  fd.Signal();
  ASSERT_TRUE(Eventually([&] { return first == 1; }));

  // After Remove the fd may be added again, and only the new handler is called.
  ASSERT_OK(loop->Remove(fd.fd()));
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    fd.Consume();
    ++second;
  }));
  fd.Signal();
  ASSERT_TRUE(Eventually([&] { return second == 1; }));
  Sync(*loop);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
}

TEST(EventLoopTest, AddRefusesABadFdOrNoHandler) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  EXPECT_THAT(loop->Add(-1, EPOLLIN, [](uint32_t) {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fd=-1")));
  EXPECT_THAT(loop->Add(fd.fd(), EPOLLIN, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("handler")));
  // A regular file cannot be polled: epoll_ctl's EPERM.
  const int file = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  EXPECT_THAT(loop->Add(file, EPOLLIN, [](uint32_t) {}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("EPOLL_CTL_ADD")));
  ::close(file);
}

// Closing an fd before Remove is a mistake, reported; the handler is forgotten all the same.
TEST(EventLoopTest, RemoveAfterTheFdWasClosedIsReported) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  auto fd = std::make_unique<EventFd>(MakeEventFd());
  const int number = fd->fd();
  ASSERT_OK(loop->Add(number, EPOLLIN, [](uint32_t) {}));
  fd.reset();
  EXPECT_THAT(loop->Remove(number),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("EPOLL_CTL_DEL")));
  EXPECT_THAT(loop->Remove(number), StatusIs(absl::StatusCode::kNotFound, HasSubstr("fd")));
}

TEST(EventLoopTest, StopIsPromptAndIdempotent) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  std::atomic<int> calls{0};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    fd.Consume();
    ++calls;
  }));
  Sync(*loop);  // the loop is now idle in epoll_wait, with no timeout

  Latch stopped;
  std::thread stopper([&] {
    loop->Stop();
    stopped.Notify();
  });
  const bool prompt = stopped.WaitForNotificationWithTimeout(kPatience);
  EXPECT_TRUE(prompt) << "Stop did not wake the loop";
  if (!prompt) fd.Signal();  // wakes a loop that missed Stop's wake-up, so the test ends
  stopper.join();

  loop->Stop();  // again: nothing to do, returns at once
  loop->Stop();
  fd.Signal();
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(calls, 0) << "a handler ran after Stop returned";
  EXPECT_THAT(loop->Post([] {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("test/events has stopped")));
  EventFd other = MakeEventFd();
  EXPECT_THAT(loop->Add(other.fd(), EPOLLIN, [](uint32_t) {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has stopped")));
  EXPECT_OK(loop->Remove(fd.fd()));  // cleaning up still works
}

TEST(EventLoopTest, StopFromAHandlerEndsTheLoopAfterIt) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  std::atomic<int> calls{0};
  std::atomic<int> tasks_run{0};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    ++calls;
    loop->Stop();  // must not wait for itself
    // Queued now but never run: the loop stops first.
    EXPECT_THAT(loop->Post([&] { ++tasks_run; }),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stopped")));
  }));
  fd.Signal();  // never read: a loop that went on would call the handler again
  ASSERT_TRUE(Eventually([&] { return calls >= 1; }));
  loop->Stop();  // joins
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(tasks_run, 0);
}

TEST(EventLoopTest, QueuedTasksAreDroppedUnrunWhenTheLoopStops) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  Latch busy, release;
  std::atomic<int> ran{0};
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  ASSERT_OK(loop->Post([&] {
    busy.Notify();
    release.WaitForNotification();
    loop->Stop();
  }));
  ASSERT_OK(loop->Post([&ran, token] { ++ran; }));
  token.reset();
  ASSERT_TRUE(busy.WaitForNotificationWithTimeout(kPatience));
  release.Notify();
  loop->Stop();
  EXPECT_EQ(ran, 0);
  EXPECT_TRUE(watch.expired()) << "the dropped task was not destroyed";
}

TEST(EventLoopTest, RunAndWaitRunsTheWorkOnTheLoopThreadBeforeReturning) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  std::thread::id ran_on;
  int value = 0;
  ASSERT_OK(loop->RunAndWait([&] {
    ran_on = std::this_thread::get_id();
    value = 42;
  }));
  EXPECT_EQ(value, 42);
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_NE(ran_on, std::thread::id());
}

TEST(EventLoopTest, RunAndWaitFromTheLoopThreadRunsInline) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  Latch done;
  ASSERT_OK(loop->Post([&] {
    int value = 0;
    // Posted and waited for, this would wait for itself forever.
    if (loop->RunAndWait([&] { value = 7; }).ok() && value == 7) done.Notify();
  }));
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
}

TEST(EventLoopTest, NoHandlerRunsWhileTheWorkRuns) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  ASSERT_OK_AND_ASSIGN(EventFd fd, EventFd::Create());
  std::atomic<int> calls{0};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    fd.Consume();
    ++calls;
  }));
  int calls_during_work = -1;
  ASSERT_OK(loop->RunAndWait([&] {
    fd.Signal();  // ready now, but the loop thread is here
    absl::SleepFor(absl::Milliseconds(50));
    calls_during_work = calls;
  }));
  EXPECT_EQ(calls_during_work, 0);
  EXPECT_TRUE(Eventually([&] { return calls == 1; }));
  ASSERT_OK(loop->Remove(fd.fd()));
}

TEST(EventLoopTest, RunAndWaitOnAStoppingLoopIsRefusedAndNeverRuns) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  Latch busy, release;
  ASSERT_OK(loop->Post([&] {
    busy.Notify();
    release.WaitForNotification();
    loop->Stop();
  }));
  ASSERT_TRUE(busy.WaitForNotificationWithTimeout(kPatience));
  bool ran = false;
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(20));  // the work is queued behind the stopping task
    release.Notify();
  });
  EXPECT_THAT(loop->RunAndWait([&] { ran = true; }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stopped before the work ran")));
  releaser.join();
  EXPECT_FALSE(ran);
  EXPECT_THAT(loop->RunAndWait([&] { ran = true; }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has stopped")));
  EXPECT_FALSE(ran);
}

TEST(EventLoopTest, ManyFds) {
  constexpr int kFds = 256;
  std::unique_ptr<EventLoop> loop = MakeLoop();
  std::vector<EventFd> fds;
  fds.reserve(kFds);
  std::vector<std::atomic<int>> calls(kFds);
  for (int i = 0; i < kFds; ++i) {
    fds.push_back(MakeEventFd());
    ASSERT_OK(loop->Add(fds[i].fd(), EPOLLIN, [&, i](uint32_t) {
      calls[i] += static_cast<int>(fds[i].Consume());
    }));
  }
  // More than one epoll_wait's worth at once, and each fd signalled a different number of times.
  for (int i = 0; i < kFds; ++i) {
    for (int n = 0; n <= i % 3; ++n) fds[i].Signal();
  }
  ASSERT_TRUE(Eventually([&] {
    for (int i = 0; i < kFds; ++i) {
      if (calls[i] != i % 3 + 1) return false;
    }
    return true;
  }));
  for (int i = 0; i < kFds; i += 2) ASSERT_OK(loop->Remove(fds[i].fd()));
  for (int i = 0; i < kFds; ++i) fds[i].Signal();
  for (int i = 1; i < kFds; i += 2) {
    ASSERT_TRUE(Eventually([&] { return calls[i] == i % 3 + 2; })) << "fd #" << i;
  }
  Sync(*loop);
  for (int i = 0; i < kFds; i += 2) EXPECT_EQ(calls[i], i % 3 + 1) << "removed fd #" << i;
}

// Level-triggered: a handler that leaves its eventfd readable is called again and again; once
// it reads the counter it is not called until the next write.
TEST(EventLoopTest, LevelTriggeredUntilTheHandlerReads) {
  std::unique_ptr<EventLoop> loop = MakeLoop();
  EventFd fd = MakeEventFd();
  std::atomic<int> calls{0};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    if (++calls % 3 == 0) fd.Consume();  // reads on every third call only
  }));
  fd.Signal();
  ASSERT_TRUE(Eventually([&] { return calls >= 3; })) << "not called again while readable";
  Sync(*loop);
  Sync(*loop);
  EXPECT_EQ(calls, 3) << "called again after reading its eventfd";

  fd.Signal();
  ASSERT_TRUE(Eventually([&] { return calls >= 6; }));
  Sync(*loop);
  EXPECT_EQ(calls, 6);
}

void IgnoreSignal(int) {}

// Signals interrupt epoll_wait (EINTR) whatever SA_RESTART says; the loop carries on.
TEST(EventLoopTest, SignalsDoNotStopTheLoop) {
  struct sigaction action = {}, previous = {};
  action.sa_handler = IgnoreSignal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);

  std::unique_ptr<EventLoop> loop = MakeLoop();
  pthread_t loop_thread = {};
  ASSERT_OK(loop->Post([&] { loop_thread = pthread_self(); }));
  Sync(*loop);
  for (int i = 0; i < 5; ++i) {
    absl::SleepFor(absl::Milliseconds(10));  // back in epoll_wait
    ASSERT_EQ(::pthread_kill(loop_thread, SIGUSR1), 0);
  }
  absl::SleepFor(absl::Milliseconds(10));
  EventFd fd = MakeEventFd();
  std::atomic<int> calls{0};
  ASSERT_OK(loop->Add(fd.fd(), EPOLLIN, [&](uint32_t) {
    fd.Consume();
    ++calls;
  }));
  fd.Signal();
  EXPECT_TRUE(Eventually([&] { return calls == 1; }));
  loop.reset();
  ASSERT_EQ(::sigaction(SIGUSR1, &previous, nullptr), 0);
}

TEST(EventLoopTest, LeavesNoThreadOrFdBehind) {
  EventFd a = MakeEventFd();
  EventFd b = MakeEventFd();
  // A sanitizer may start a helper thread of its own with the process's first thread.
  std::thread([] {}).join();
  const int threads_before = CountEntries("/proc/self/task");
  const int fds_before = CountEntries("/proc/self/fd");
  ASSERT_GT(threads_before, 0);
  ASSERT_GT(fds_before, 0);
  {
    std::unique_ptr<EventLoop> loop = MakeLoop();
    ASSERT_OK(loop->Add(a.fd(), EPOLLIN, [&](uint32_t) { a.Consume(); }));
    ASSERT_OK(loop->Add(b.fd(), EPOLLIN, [&](uint32_t) { b.Consume(); }));
    a.Signal();
    ASSERT_OK(loop->Post([] {}));
    Sync(*loop);
    // What the loop holds while it lives: one thread, the epoll fd and the wake-up eventfd.
    EXPECT_EQ(CountEntries("/proc/self/task"), threads_before + 1);
    EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before + 2);
  }
  EXPECT_EQ(CountEntries("/proc/self/task"), threads_before);
  EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before);
  // The watched fds belong to their owner and are still open.
  EXPECT_GE(::fcntl(a.fd(), F_GETFD), 0);
  EXPECT_GE(::fcntl(b.fd(), F_GETFD), 0);
}

}  // namespace
}  // namespace vmmd
