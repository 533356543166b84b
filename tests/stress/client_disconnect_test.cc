// Clients that vanish mid-stream, through the real vmmd binary (tag: requires-kvm). Followers
// of StreamConsole and WatchVm that cancel, run out of deadline, drop their channel without a
// word, or are killed with SIGKILL in another process (the kernel closes the socket), many
// times and many at once; and VMs deleted while a StreamConsole and a WatchVm follow them.
// The daemon stays healthy, each deleted VM's followers end promptly, and the daemon's
// threads and descriptors come back to where they were.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "health.grpc.pb.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/daemon_process.h"
#include "tests/stress/stress_client.h"

extern char** environ;

namespace vmmd::stress {
namespace {

using ::vmmd::testing::DaemonProcess;
using ::vmmd::testing::WaitForValue;

constexpr char kFollower[] = "tests/stress/stream_follower";
constexpr int kRepetitions = 40;      // of each in-process way to leave
constexpr int kKilledFollowers = 40;  // processes killed mid-stream
constexpr int kKilledAtOnce = 10;     // followers alive together before the kill
constexpr int kDeletedWhileFollowed = 20;
// Bounds, not goals: how long a follower may take to see its first message, and a stream to
// end after its VM is deleted (the handlers poll every 200 ms).
constexpr absl::Duration kFollowTimeout = absl::Seconds(30);
constexpr auto kStreamEndBound = std::chrono::seconds(10);

// A channel with its own connection: gRPC shares subchannels between channels to the same
// target unless told not to, and dropping this channel must close a real socket.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// A stream_follower process whose stdout we read.
struct Follower {
  pid_t pid = -1;
  int stdout_fd = -1;
};

Follower SpawnFollower(const std::string& target, const std::string& rpc,
                       const std::string& vm_id) {
  int pipe_fds[2];
  Follower follower;
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return follower;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  std::vector<std::string> args = {kFollower, target, rpc, vm_id};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, kFollower, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    return follower;
  }
  follower.pid = pid;
  follower.stdout_fd = pipe_fds[0];
  return follower;
}

// Waits (bounded) for the follower to print "following".
bool WaitFollowing(const Follower& follower, absl::Duration timeout) {
  std::string output;
  const absl::Time deadline = absl::Now() + timeout;
  while (output.find("following\n") == std::string::npos) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd poll_fd = {follower.stdout_fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
    char buffer[256];
    const ssize_t got = ::read(follower.stdout_fd, buffer, sizeof(buffer));
    if (got <= 0) return false;
    output.append(buffer, got);
  }
  return true;
}

void KillFollower(Follower& follower) {
  if (follower.pid > 0) {
    ::kill(follower.pid, SIGKILL);
    ::waitpid(follower.pid, nullptr, 0);
  }
  if (follower.stdout_fd >= 0) ::close(follower.stdout_fd);
  follower = Follower();
}

class ClientDisconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    auto daemon = StartDaemon({kIdleGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    channel_ = daemon_->Connect();
    stub_ = vmm::v1::VmmService::NewStub(channel_);
    // The VM the followers follow: it prints one line and stays RUNNING.
    ASSERT_TRUE(BootGuest(*stub_, *daemon_, "idle", "idle_guest.elf").ok());
    const vmm::v1::Vm vm = PollVm(*stub_, "idle", absl::Seconds(30),
                                  [](const vmm::v1::Vm& vm) { return vm.console_bytes() > 0; });
    ASSERT_GT(vm.console_bytes(), 0u);
  }

  void TearDown() override {
    if (HasFailure() && daemon_) {
      std::string log = daemon_->Log();
      std::cerr << "vmmd log (tail):\n"
                << (log.size() > 8000 ? log.substr(log.size() - 8000) : log);
    }
  }

  // Follows the idle VM's console, reads the first chunk, then cancels. Returns the status.
  grpc::Status CancelConsole(vmm::v1::VmmService::Stub& stub) {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id("idle");
    request.set_follow(true);
    auto context = Context();
    auto reader = stub.StreamConsole(context.get(), request);
    vmm::v1::ConsoleChunk chunk;
    if (!reader->Read(&chunk)) return reader->Finish();
    context->TryCancel();
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }

  grpc::Status CancelWatch(vmm::v1::VmmService::Stub& stub) {
    vmm::v1::WatchVmRequest request;
    request.set_vm_id("idle");
    auto context = Context();
    auto reader = stub.WatchVm(context.get(), request);
    vmm::v1::VmEvent event;
    if (!reader->Read(&event)) return reader->Finish();
    context->TryCancel();
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  }

  // Follows the console with a deadline that runs out mid-stream.
  grpc::Status ConsoleUntilDeadline(vmm::v1::VmmService::Stub& stub) {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id("idle");
    request.set_follow(true);
    auto context = Context(std::chrono::milliseconds(300));
    auto reader = stub.StreamConsole(context.get(), request);
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }

  // Opens its own connection, starts following, reads one message, and drops everything:
  // no cancel, no Finish; the reader and then the channel are destroyed.
  bool DropChannelMidStream(bool console) {
    std::shared_ptr<grpc::Channel> channel = OwnChannel(daemon_->target());
    auto stub = vmm::v1::VmmService::NewStub(channel);
    auto context = Context();
    bool got_one = false;
    if (console) {
      vmm::v1::StreamConsoleRequest request;
      request.set_vm_id("idle");
      request.set_follow(true);
      auto reader = stub->StreamConsole(context.get(), request);
      vmm::v1::ConsoleChunk chunk;
      got_one = reader->Read(&chunk);
    } else {
      vmm::v1::WatchVmRequest request;
      request.set_vm_id("idle");
      auto reader = stub->WatchVm(context.get(), request);
      vmm::v1::VmEvent event;
      got_one = reader->Read(&event);
    }
    return got_one;
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(ClientDisconnectTest, VanishingFollowersAndDeletedVmsLeaveNothingBehind) {
  // Warm-up: one of each, so that gRPC's lazily started threads exist before the baseline.
  EXPECT_EQ(CancelConsole(*stub_).error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(CancelWatch(*stub_).error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(DropChannelMidStream(true));
  Follower warm_up = SpawnFollower(daemon_->target(), "console", "idle");
  ASSERT_GT(warm_up.pid, 0) << "cannot spawn " << kFollower;
  ASSERT_TRUE(WaitFollowing(warm_up, kFollowTimeout));
  KillFollower(warm_up);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the server notices the dead peers

  const int fds_before = daemon_->OpenFdCount();
  const std::string fd_targets_before = daemon_->OpenFdTargets();
  const int threads_before = SettledThreadsBesideGrpcPools(*daemon_);
  const int pool_threads_before = GrpcPoolThreads(*daemon_);
  const std::string thread_names_before = daemon_->ThreadNames();
  const absl::Time start = absl::Now();

  // In this process: cancel, deadline, and a dropped channel, on both streaming RPCs, from
  // several clients at once.
  std::atomic<int> cancelled{0}, deadline_exceeded{0}, dropped{0}, unexpected{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = c; i < kRepetitions; i += 4) {
        const grpc::StatusCode console = CancelConsole(*stub_).error_code();
        const grpc::StatusCode watch = CancelWatch(*stub_).error_code();
        const grpc::StatusCode deadline = ConsoleUntilDeadline(*stub_).error_code();
        (console == grpc::StatusCode::CANCELLED ? cancelled : unexpected)++;
        (watch == grpc::StatusCode::CANCELLED ? cancelled : unexpected)++;
        (deadline == grpc::StatusCode::DEADLINE_EXCEEDED ? deadline_exceeded : unexpected)++;
        (DropChannelMidStream(i % 2 == 0) ? dropped : unexpected)++;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(unexpected.load(), 0);

  // In other processes, killed: kKilledAtOnce followers at a time, console and watch.
  int killed = 0;
  int peak_threads = 0;
  for (int round = 0; round < kKilledFollowers / kKilledAtOnce; ++round) {
    std::vector<Follower> followers;
    for (int i = 0; i < kKilledAtOnce; ++i) {
      followers.push_back(
          SpawnFollower(daemon_->target(), i % 2 == 0 ? "console" : "watch", "idle"));
      ASSERT_GT(followers.back().pid, 0);
    }
    for (Follower& follower : followers) EXPECT_TRUE(WaitFollowing(follower, kFollowTimeout));
    // Each live follower holds a handler thread in the daemon's sync server.
    peak_threads = std::max(peak_threads, daemon_->ThreadCount());
    for (Follower& follower : followers) {
      KillFollower(follower);
      ++killed;
    }
  }

  // VMs deleted while a StreamConsole and a WatchVm follow them: both streams end, promptly.
  int ended_ok = 0;
  absl::Duration slowest_end;
  std::vector<std::string> stream_failures;
  for (int i = 0; i < kDeletedWhileFollowed; ++i) {
    const std::string id = absl::StrCat("victim-", i);
    ASSERT_TRUE(BootGuest(*stub_, *daemon_, id, "idle_guest.elf").ok());
    std::atomic<bool> console_following{false};
    grpc::Status console_status, watch_status;
    std::string console_text;
    std::vector<std::string> events;
    std::thread console_follower([&] {
      vmm::v1::StreamConsoleRequest request;
      request.set_vm_id(id);
      request.set_follow(true);
      auto context =
          Context(std::chrono::duration_cast<std::chrono::milliseconds>(kStreamEndBound) +
                  std::chrono::seconds(30));
      auto reader = stub_->StreamConsole(context.get(), request);
      vmm::v1::ConsoleChunk chunk;
      while (reader->Read(&chunk)) {
        console_text += chunk.data();
        // Following, and the guest done printing (it may print slowly, under emulation).
        if (absl::StrContains(console_text, "idle guest ready")) console_following.store(true);
      }
      console_status = reader->Finish();
    });
    std::atomic<bool> watch_following{false};
    std::thread watcher([&] {
      vmm::v1::WatchVmRequest request;
      request.set_vm_id(id);
      auto context = Context(std::chrono::seconds(60));
      auto reader = stub_->WatchVm(context.get(), request);
      vmm::v1::VmEvent event;
      while (reader->Read(&event)) {
        events.push_back(absl::StrCat(vmm::v1::VmState_Name(event.state()), ":", event.reason()));
        watch_following.store(true);
      }
      watch_status = reader->Finish();
    });
    // Both streams must be following before the VM goes, or this would test a lookup race.
    const absl::Time wait_until = absl::Now() + kFollowTimeout;
    while (!(console_following.load() && watch_following.load()) && absl::Now() < wait_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(console_following.load()) << id;
    EXPECT_TRUE(watch_following.load()) << id;
    const absl::Time deleted_at = absl::Now();
    ASSERT_TRUE(DeleteVm(*stub_, id).ok()) << id;
    console_follower.join();
    watcher.join();
    const absl::Duration to_end = absl::Now() - deleted_at;
    slowest_end = std::max(slowest_end, to_end);
    EXPECT_THAT(console_text, ::testing::HasSubstr("idle guest ready")) << id;
    if (console_status.ok() && watch_status.ok() && !events.empty() &&
        events.back() == "VM_STATE_STOPPED:deleted") {
      ++ended_ok;
    } else {
      stream_failures.push_back(absl::StrCat(
          id, ": console ", console_status.error_code(), " ", console_status.error_message(),
          "; watch ", watch_status.error_code(), " ", watch_status.error_message(), "; last event ",
          events.empty() ? "none" : events.back()));
    }
  }
  EXPECT_EQ(ended_ok, kDeletedWhileFollowed) << stream_failures.front();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  // Healthy: SERVING, the followed VM still RUNNING and answering, and nothing left behind.
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(
      health->Check(Context().get(), grpc::health::v1::HealthCheckRequest(), &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  vmm::v1::PauseVmRequest pause;
  pause.set_vm_id("idle");
  vmm::v1::Vm vm;
  EXPECT_TRUE(stub_->PauseVm(Context().get(), pause, &vm).ok());
  vmm::v1::ResumeVmRequest resume;
  resume.set_vm_id("idle");
  EXPECT_TRUE(stub_->ResumeVm(Context().get(), resume, &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  EXPECT_THAT(ReplayConsole(*stub_, "idle").data, ::testing::HasSubstr("idle guest ready"));

  const absl::Time settle_start = absl::Now();
  const int threads_after = WaitForValue(threads_before, absl::Seconds(20),
                                         [&] { return ThreadsBesideGrpcPools(*daemon_); });
  const int fds_after =
      WaitForValue(fds_before, absl::Seconds(20), [&] { return daemon_->OpenFdCount(); });
  const double settle_seconds = absl::ToDoubleSeconds(absl::Now() - settle_start);
  EXPECT_EQ(threads_after, threads_before)
      << "before: " << thread_names_before << "\nafter: " << daemon_->ThreadNames();
  EXPECT_EQ(fds_after, fds_before) << "before: " << fd_targets_before
                                   << "\nafter: " << daemon_->OpenFdTargets();
  std::printf(
      "client disconnects: %d cancelled, %d deadline-exceeded, %d dropped channels, %d "
      "followers killed (SIGKILL, %d at a time; daemon threads up to %d while they streamed), %d "
      "VMs deleted under a console and a watch follower (%d ended OK with STOPPED:deleted, "
      "the slowest %.0f ms after DeleteVm returned) in %.1f s; threads %d -> %d (gRPC "
      "pool threads %d -> %d), fds %d -> %d, settled in %.1f s\n",
      cancelled.load(), deadline_exceeded.load(), dropped.load(), killed, kKilledAtOnce,
      peak_threads, kDeletedWhileFollowed, ended_ok, absl::ToDoubleMilliseconds(slowest_end),
      seconds, threads_before, threads_after, pool_threads_before, GrpcPoolThreads(*daemon_),
      fds_before, fds_after, settle_seconds);
}

}  // namespace
}  // namespace vmmd::stress
