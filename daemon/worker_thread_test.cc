// WorkerThread: posted tasks in order, Call with a deadline, periodic ticks.
#include "daemon/worker_thread.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::vmmd::testing::StatusIs;

TEST(WorkerThreadTest, RunsPostedTasksInOrderOnItsOwnThread) {
  WorkerThread worker("test/worker");
  std::vector<int> order;  // touched only on the worker until Shutdown joins it
  bool on_worker = true;
  for (int i = 0; i < 5; ++i) {
    worker.Post([&, i] {
      order.push_back(i);
      on_worker &= worker.OnWorkerThread();
    });
  }
  worker.Shutdown();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4));
  EXPECT_TRUE(on_worker);
}

TEST(WorkerThreadTest, CallReturnsTheResult) {
  WorkerThread worker("test/worker");
  ASSERT_OK_AND_ASSIGN(int seven, worker.Call([] { return absl::StatusOr<int>(7); },
                                              absl::Seconds(10)));
  EXPECT_EQ(seven, 7);
}

// The worker is busy past the deadline: the call is answered DEADLINE_EXCEEDED and its task
// never runs, so the answer is the truth ("nothing changed").
TEST(WorkerThreadTest, ADeadlinePassedInTheQueueMeansTheTaskNeverRuns) {
  WorkerThread worker("test/worker");
  absl::Notification busy, release;
  worker.Post([&] {
    busy.Notify();
    release.WaitForNotification();
  });
  busy.WaitForNotification();
  std::atomic<bool> ran{false};
  EXPECT_THAT(worker.Call(
                  [&] {
                    ran = true;
                    return absl::OkStatus();
                  },
                  absl::Milliseconds(50)),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       ::testing::HasSubstr("the request was not run, and nothing changed")));
  release.Notify();
  ASSERT_OK(worker.Call([] { return absl::OkStatus(); }, absl::Seconds(10)));  // drains the queue
  EXPECT_FALSE(ran.load());
}

// A task that has started is waited for to its end, past the deadline: its own result is the
// answer, never DEADLINE_EXCEEDED for work that then happens anyway.
TEST(WorkerThreadTest, AStartedTaskIsAnsweredWithItsOwnResult) {
  WorkerThread worker("test/worker");
  ASSERT_OK_AND_ASSIGN(int done, worker.Call(
                                     [] {
                                       std::this_thread::sleep_for(std::chrono::milliseconds(200));
                                       return absl::StatusOr<int>(42);
                                     },
                                     absl::Milliseconds(20)));
  EXPECT_EQ(done, 42);
}

// Once shutting down, a call is answered at once with the worker's message, whatever its
// timeout (a call racing DeleteVm used to wait all of it).
TEST(WorkerThreadTest, ACallAfterShutdownIsAnsweredAtOnce) {
  WorkerThread worker("test/worker", "vm test is being deleted");
  worker.Shutdown();
  const absl::Time start = absl::Now();
  EXPECT_THAT(worker.Call([] { return absl::OkStatus(); }, absl::Hours(1)),
              StatusIs(absl::StatusCode::kUnavailable, "vm test is being deleted"));
  EXPECT_LT(absl::Now() - start, absl::Minutes(10)) << "it waited for the timeout";
  EXPECT_FALSE(worker.Post([] {}));
}

TEST(WorkerThreadTest, PeriodicTaskTicksBetweenTasksUntilCleared) {
  WorkerThread worker("test/worker");
  std::atomic<int> ticks{0};
  ASSERT_OK(worker.Call(
      [&] {
        worker.SetPeriodicTask(absl::Milliseconds(5), [&] { ticks.fetch_add(1); });
        return absl::OkStatus();
      },
      absl::Seconds(10)));
  // Bounded waits, not timing assertions: the ticks come, however slowly the machine runs.
  for (int i = 0; i < 2000 && ticks.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(ticks.load(), 3);
  // Posted work still runs while ticking.
  ASSERT_OK_AND_ASSIGN(int one, worker.Call([] { return absl::StatusOr<int>(1); },
                                            absl::Seconds(10)));
  EXPECT_EQ(one, 1);
  ASSERT_OK(worker.Call(
      [&] {
        worker.ClearPeriodicTask();
        return absl::OkStatus();
      },
      absl::Seconds(10)));
  const int after_clear = ticks.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ticks.load(), after_clear);
  worker.Shutdown();
}

}  // namespace
}  // namespace vmmd
