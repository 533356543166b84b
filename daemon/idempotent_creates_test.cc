#include "daemon/idempotent_creates.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/v1/vmm.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOkAndHolds;
using ::vmmd::testing::StatusIs;
using Verdict = IdempotentCreates::Verdict;

vmm::v1::CreateVmRequest Create(uint64_t memory_mib) {
  vmm::v1::CreateVmRequest request;
  request.set_vm_id("a");
  request.set_vcpu_count(1);
  request.set_memory_mib(memory_mib);
  return request;
}

TEST(IdempotentCreatesTest, ARetryGetsTheExistingVmAnotherRequestIsRefused) {
  IdempotentCreates creates;
  EXPECT_THAT(creates.Begin("a", Create(64)), IsOkAndHolds(Verdict::kMake));
  creates.Finish("a", true);
  EXPECT_THAT(creates.Begin("a", Create(64)), IsOkAndHolds(Verdict::kExisting));
  EXPECT_THAT(creates.Begin("a", Create(128)),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("vm_id a already exists, made by a different CreateVm request: "
                                 "memory_mib differs")));
  vmm::v1::RunVmRequest run;
  *run.mutable_create() = Create(64);
  EXPECT_THAT(creates.Begin("a", run),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("made by CreateVm, not RunVm")));
  // Deleted: the id is anyone's again.
  creates.Forget("a");
  EXPECT_THAT(creates.Begin("a", Create(128)), IsOkAndHolds(Verdict::kMake));
}

TEST(IdempotentCreatesTest, AFailedMakeIsForgotten) {
  IdempotentCreates creates;
  EXPECT_THAT(creates.Begin("a", Create(64)), IsOkAndHolds(Verdict::kMake));
  creates.Finish("a", false);
  EXPECT_THAT(creates.Begin("a", Create(128)), IsOkAndHolds(Verdict::kMake));
}

// Sixteen identical requests at once: one makes the VM, the others wait for it and get it.
TEST(IdempotentCreatesTest, ConcurrentIdenticalRequestsMakeOne) {
  IdempotentCreates creates;
  std::atomic<int> makes{0}, existing{0}, errors{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] {
      absl::StatusOr<Verdict> verdict = creates.Begin("a", Create(64));
      if (!verdict.ok()) {
        ++errors;
      } else if (*verdict == Verdict::kMake) {
        ++makes;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // making it takes a while
        creates.Finish("a", true);
      } else {
        ++existing;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(makes, 1);
  EXPECT_EQ(existing, 15);
  EXPECT_EQ(errors, 0);
}

// A waiting retry makes the VM itself when the first attempt failed.
TEST(IdempotentCreatesTest, AWaiterMakesItWhenTheFirstAttemptFails) {
  IdempotentCreates creates;
  ASSERT_THAT(creates.Begin("a", Create(64)), IsOkAndHolds(Verdict::kMake));
  absl::StatusOr<Verdict> waiter_verdict;
  std::thread waiter([&] { waiter_verdict = creates.Begin("a", Create(64)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  creates.Finish("a", false);
  waiter.join();
  EXPECT_THAT(waiter_verdict, IsOkAndHolds(Verdict::kMake));
}

}  // namespace
}  // namespace vmmd
