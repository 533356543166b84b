#include "daemon/vcpu_control.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// Threads standing in for vCPU threads: each loops on WaitUntilRunnable, counting rounds.
class FakeVcpus {
 public:
  FakeVcpus(VcpuControl& control, int count) : rounds_(count) {
    control.ThreadsStarting(count);
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([&control, this, i] {
        while (control.WaitUntilRunnable()) {
          rounds_[i].fetch_add(1);
          std::this_thread::yield();
        }
        control.ThreadEnded();
      });
    }
  }
  ~FakeVcpus() { Join(); }
  void Join() {
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  uint64_t rounds(int i) const { return rounds_[i].load(); }

 private:
  std::vector<std::atomic<uint64_t>> rounds_;
  std::vector<std::thread> threads_;
};

TEST(VcpuControlTest, TheFirstStopReasonWins) {
  VcpuControl control;
  EXPECT_FALSE(control.stop_requested());
  EXPECT_EQ(control.stop_reason(), "");
  EXPECT_TRUE(control.RequestStop("guest reset"));
  EXPECT_FALSE(control.RequestStop("deleted"));
  EXPECT_TRUE(control.stop_requested());
  EXPECT_EQ(control.stop_reason(), "guest reset");
  EXPECT_FALSE(control.WaitUntilRunnable());
}

TEST(VcpuControlTest, PausedThreadsParkAndStopMovingThenResume) {
  VcpuControl control;
  FakeVcpus vcpus(control, 3);
  control.SetPaused(true);
  ASSERT_OK(control.AwaitAllParked(absl::Now() + absl::Seconds(30)));
  const uint64_t parked_at = vcpus.rounds(0) + vcpus.rounds(1) + vcpus.rounds(2);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(vcpus.rounds(0) + vcpus.rounds(1) + vcpus.rounds(2), parked_at);
  control.SetPaused(false);
  while (vcpus.rounds(0) + vcpus.rounds(1) + vcpus.rounds(2) <= parked_at) {
    std::this_thread::yield();
  }
  control.RequestStop("stopped by request");
  vcpus.Join();
}

TEST(VcpuControlTest, AStopReleasesParkedThreads) {
  VcpuControl control;
  FakeVcpus vcpus(control, 2);
  control.SetPaused(true);
  ASSERT_OK(control.AwaitAllParked(absl::Now() + absl::Seconds(30)));
  control.RequestStop("deleted");
  vcpus.Join();  // hangs if parked threads are not woken
  EXPECT_THAT(control.AwaitAllParked(absl::Now()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stopped")));
}

TEST(VcpuControlTest, PastTheDeadlineSaysHowManyParkedAndWithdrawsThePause) {
  VcpuControl control;
  // One thread parks (waited for: a loaded machine may take long to start it)...
  control.ThreadsStarting(1);
  control.SetPaused(true);
  std::thread parker([&] {
    while (control.WaitUntilRunnable()) std::this_thread::yield();
  });
  ASSERT_OK(control.AwaitAllParked(absl::Now() + absl::Seconds(30)));
  // ...and a second one counted is "stuck in KVM_RUN".
  control.ThreadsStarting(2);
  EXPECT_THAT(control.AwaitAllParked(absl::Now() + absl::Milliseconds(100)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("1 of 2 vCPUs parked")));
  // The pause is withdrawn: the parked thread runs again until the stop.
  control.RequestStop("stopped by request");
  parker.join();
}

}  // namespace
}  // namespace vmmd
