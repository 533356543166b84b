// RunVm when the host refuses a vCPU thread, as systemd's TasksMax or a pids cgroup does on a
// full host, through the real vmmd: the call fails at its start step with RESOURCE_EXHAUSTED
// naming the vCPU, leaves no VM, fd or thread behind, and the daemon and its other VM carry
// on. Always in tools/kvm-vm's test VM (VMMD_TEST_KVM=vm in BUILD), on every host: a kernel of
// the test's own, where it may mount cgroup2 and put vmmd under a pids limit.
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;

constexpr char kCgroupRoot[] = "/sys/fs/cgroup";

bool WriteTo(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  return out.good();
}

int ReadNumber(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  int value = -1;
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value) ? value : -1;
}

class ThreadLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    ASSERT_STREQ(std::getenv("VMMD_KVM_VM_GUEST"), "1") << "runs in the test VM (VMMD_TEST_KVM=vm)";
    if (::mount("none", kCgroupRoot, "cgroup2", 0, nullptr) != 0) ASSERT_EQ(errno, EBUSY) << "mount cgroup2";
    ASSERT_TRUE(WriteTo(absl::StrCat(kCgroupRoot, "/cgroup.subtree_control"), "+pids"));
    cgroup_ = absl::StrCat(kCgroupRoot, "/vmmd-thread-limit");
    ASSERT_TRUE(::mkdir(cgroup_.c_str(), 0755) == 0 || errno == EEXIST);
    auto daemon = DaemonProcess::Start("daemon/vmmd", {"tests/guest/idle_guest.elf"});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    ASSERT_TRUE(WriteTo(cgroup_ + "/cgroup.procs", std::to_string(daemon_->pid())));
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  grpc::Status Run(const std::string& id, bool start) {
    vmm::v1::RunVmRequest request;
    request.mutable_create()->set_vm_id(id);
    request.mutable_create()->set_vcpu_count(4);
    request.mutable_create()->set_memory_mib(32);
    request.mutable_boot()->set_kernel_path(daemon_->ImagePath("idle_guest.elf"));
    request.set_start(start);
    vmm::v1::Vm vm;
    return stub_->RunVm(Context().get(), request, &vm);
  }

  std::string cgroup_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(ThreadLimitTest, RunVmWhoseVcpuThreadIsRefusedLeavesNothingBehind) {
  // What a configured VM costs in threads (its worker and device loop), from a first VM.
  const int before_first = daemon_->ThreadCount();
  ASSERT_TRUE(Run("first", /*start=*/false).ok());
  const int per_vm = daemon_->ThreadCount() - before_first;
  const int threads = daemon_->ThreadCount();
  const int fds = daemon_->OpenFdCount();

  // Room for another configured VM, gRPC's next poller and one vCPU, not four.
  const int current = ReadNumber(cgroup_ + "/pids.current");
  ASSERT_GT(current, 0);
  ASSERT_TRUE(WriteTo(cgroup_ + "/pids.max", std::to_string(current + per_vm + 2)));
  const grpc::Status refused = Run("second", /*start=*/true);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("start: vcpu "));
  EXPECT_THAT(refused.error_message(), HasSubstr("the host refused a thread"));

  vmm::v1::ListVmsRequest list;
  vmm::v1::ListVmsResponse listed;
  ASSERT_TRUE(stub_->ListVms(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.vms_size(), 1);
  EXPECT_EQ(listed.vms(0).vm_id(), "first");
  // Deleting joins every thread before RunVm answers; gRPC's own may take a moment to settle.
  for (int i = 0; i < 300 && (daemon_->ThreadCount() != threads || daemon_->OpenFdCount() != fds);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(daemon_->ThreadCount(), threads) << daemon_->ThreadNames();
  EXPECT_EQ(daemon_->OpenFdCount(), fds) << daemon_->OpenFdTargets();

  // Without the limit the same request succeeds, and the first VM starts: nothing was broken.
  ASSERT_TRUE(WriteTo(cgroup_ + "/pids.max", "max"));
  EXPECT_TRUE(Run("second", /*start=*/true).ok());
  vmm::v1::StartVcpusRequest start;
  start.set_vm_id("first");
  vmm::v1::Vm vm;
  const grpc::Status started = stub_->StartVcpus(Context().get(), start, &vm);
  EXPECT_TRUE(started.ok()) << started.error_message();
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
}

}  // namespace
}  // namespace vmmd
