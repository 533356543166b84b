// Followers do not starve the server (tag: requires-kvm), through the real vmmd binary: twice
// --max_vms followers (2,048 StreamConsole and WatchVm streams) stay open on four running VMs
// while unary calls keep answering, and the daemon does not grow a thread per follower.
// (With a thread per stream, the sync server's 512 threads ran out at the 512th follower and
// unary calls got RESOURCE_EXHAUSTED.)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_callback.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/daemon_process.h"
#include "tests/stress/stress_client.h"

namespace vmmd::stress {
namespace {

constexpr int kMaxVms = 1024;                 // vmmd's default --max_vms
constexpr int kFollowers = 2 * kMaxVms;
constexpr int kStreamsPerConnection = 200;    // below the server's 256 concurrent streams
constexpr int kVms = 4;

// One follower, held by the client's callback API (no client thread per stream either).
template <typename Request, typename Message>
class Follower : public grpc::ClientReadReactor<Message> {
 public:
  Request request;  // outlives the call: gRPC may serialize it after the call starts
  std::atomic<int> received{0};
  absl::Notification first;
  absl::Notification done;
  grpc::Status status;
  grpc::ClientContext context;

  void Begin() {
    this->StartRead(&message_);
    this->StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (received.fetch_add(1) == 0) first.Notify();
    this->StartRead(&message_);
  }
  void OnDone(const grpc::Status& s) override {
    status = s;
    done.Notify();
  }

 private:
  Message message_;
};

TEST(FollowersTest, TwiceMaxVmsFollowersLeaveUnaryCallsAnswering) {
  ASSERT_TRUE(::vmmd::testing::KvmUsable());
  auto daemon = StartDaemon({kIdleGuest}, {absl::StrCat("--max_vms=", kMaxVms)});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  std::shared_ptr<grpc::Channel> control = (*daemon)->Connect();
  auto stub = vmm::v1::VmmService::NewStub(control);
  std::vector<std::string> vms;
  for (int i = 0; i < kVms; ++i) {
    vms.push_back(absl::StrCat("followed-", i));
    ASSERT_TRUE(BootGuest(*stub, **daemon, vms.back(), "idle_guest.elf").ok());
  }
  const int threads_before = (*daemon)->ThreadCount();

  // Connections of their own, so that the streams are not capped by one connection's limit.
  std::vector<std::unique_ptr<vmm::v1::VmmService::Stub>> stubs;
  for (int i = 0; i < (kFollowers + kStreamsPerConnection - 1) / kStreamsPerConnection; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    arguments.SetInt("vmmd.test.connection", i);  // distinct arguments: a channel of its own
    stubs.push_back(vmm::v1::VmmService::NewStub(grpc::CreateCustomChannel(
        (*daemon)->target(), grpc::InsecureChannelCredentials(), arguments)));
  }
  const absl::Time open_start = absl::Now();
  std::vector<std::unique_ptr<Follower<vmm::v1::StreamConsoleRequest, vmm::v1::ConsoleChunk>>> consoles;
  std::vector<std::unique_ptr<Follower<vmm::v1::WatchVmRequest, vmm::v1::VmEvent>>> watchers;
  for (int i = 0; i < kFollowers; ++i) {
    vmm::v1::VmmService::Stub& follower_stub = *stubs[i / kStreamsPerConnection];
    const std::string& vm = vms[i % kVms];
    if (i % 2 == 0) {
      consoles.push_back(std::make_unique<Follower<vmm::v1::StreamConsoleRequest, vmm::v1::ConsoleChunk>>());
      consoles.back()->request.set_vm_id(vm);
      consoles.back()->request.set_follow(true);
      follower_stub.async()->StreamConsole(&consoles.back()->context, &consoles.back()->request,
                                           consoles.back().get());
      consoles.back()->Begin();
    } else {
      watchers.push_back(std::make_unique<Follower<vmm::v1::WatchVmRequest, vmm::v1::VmEvent>>());
      watchers.back()->request.set_vm_id(vm);
      follower_stub.async()->WatchVm(&watchers.back()->context, &watchers.back()->request,
                                     watchers.back().get());
      watchers.back()->Begin();
    }
  }
  // Every follower is served at once: each gets its first message (the console's line, the
  // VM's events so far) while all of them are open.
  int served = 0;
  for (auto& follower : consoles)
    served += follower->first.WaitForNotificationWithTimeout(absl::Minutes(5)) ? 1 : 0;
  for (auto& follower : watchers)
    served += follower->first.WaitForNotificationWithTimeout(absl::Minutes(5)) ? 1 : 0;
  const double open_seconds = absl::ToDoubleSeconds(absl::Now() - open_start);
  EXPECT_EQ(served, kFollowers);
  int still_open = 0;
  for (auto& follower : consoles) still_open += follower->done.HasBeenNotified() ? 0 : 1;
  for (auto& follower : watchers) still_open += follower->done.HasBeenNotified() ? 0 : 1;
  EXPECT_EQ(still_open, kFollowers);
  const int threads_following = (*daemon)->ThreadCount();

  // Unary calls answer: reads, and a whole VM's life.
  std::vector<double> latencies_ms;
  for (int i = 0; i < 50; ++i) {
    const absl::Time start = absl::Now();
    grpc::Status status;
    GetVm(*stub, vms[i % kVms], &status);
    latencies_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  vmm::v1::ListVmsResponse list;
  grpc::Status listed = stub->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list);
  EXPECT_TRUE(listed.ok()) << listed.error_message();
  EXPECT_EQ(list.vms_size(), kVms);
  EXPECT_TRUE(BootGuest(*stub, **daemon, "one-more", "idle_guest.elf").ok());
  EXPECT_TRUE(DeleteVm(*stub, "one-more").ok());
  std::sort(latencies_ms.begin(), latencies_ms.end());

  // No thread per follower (the daemon holds a few hundred fewer than the followers).
  EXPECT_LT(threads_following - threads_before, kFollowers / 8)
      << "threads before " << threads_before << ", with the followers " << threads_following;

  // Deleting the VMs ends every stream, OK (the console closes, the events end).
  for (const std::string& vm : vms) EXPECT_TRUE(DeleteVm(*stub, vm).ok());
  int ended_ok = 0;
  for (auto& follower : consoles) {
    if (follower->done.WaitForNotificationWithTimeout(absl::Minutes(2))) ended_ok += follower->status.ok();
  }
  for (auto& follower : watchers) {
    if (follower->done.WaitForNotificationWithTimeout(absl::Minutes(2))) ended_ok += follower->status.ok();
  }
  EXPECT_EQ(ended_ok, kFollowers);
  std::printf(
      "followers: %d open on %d VMs (opened and all served within %.1f s); daemon threads %d -> %d; "
      "GetVm meanwhile p50 %.1f ms, max %.1f ms; a VM created, booted and deleted\n",
      kFollowers, kVms, open_seconds, threads_before, threads_following,
      latencies_ms[latencies_ms.size() / 2], latencies_ms.back());
}

}  // namespace
}  // namespace vmmd::stress
