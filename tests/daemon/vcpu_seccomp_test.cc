// The vCPU threads' seccomp filter in the real vmmd (tag: requires-kvm): every vCPU thread
// (named <vm>/vcpuN) is in seccomp filter mode while the daemon's other threads are not, and
// guests still run, pause, resume, stop, print, reset and triple-fault (with the register
// dump) through it.
#include <dirent.h>
#include <sys/types.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::DaemonProcess;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
constexpr char kIdleGuest[] = "tests/guest/idle_guest.elf";
constexpr char kTripleFaultGuest[] = "tests/guest/triple_fault_guest.elf";

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return context;
}

struct ThreadState {
  std::string tid;
  std::string name;
  int seccomp = -1;          // "Seccomp:" in /proc/<pid>/task/<tid>/status: 0 none, 2 filter
  int seccomp_filters = -1;  // "Seccomp_filters:": how many filters are stacked
};

std::vector<ThreadState> Threads(pid_t pid) {
  std::vector<ThreadState> threads;
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return threads;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    ThreadState thread;
    thread.tid = entry->d_name;
    std::ifstream comm(absl::StrCat(tasks, "/", thread.tid, "/comm"));
    std::getline(comm, thread.name);
    std::ifstream status(absl::StrCat(tasks, "/", thread.tid, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      std::sscanf(line.c_str(), "Seccomp: %d", &thread.seccomp);
      std::sscanf(line.c_str(), "Seccomp_filters: %d", &thread.seccomp_filters);
    }
    threads.push_back(thread);
  }
  ::closedir(dir);
  return threads;
}

class VcpuSeccompTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    auto daemon = DaemonProcess::Start(kDaemon, {kHelloGuest, kIdleGuest, kTripleFaultGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  // Create -> ConfigureBoot -> StartVcpus.
  void Boot(const std::string& vm_id, uint32_t vcpus, const std::string& image) {
    vmm::v1::CreateVmRequest create;
    create.set_vm_id(vm_id);
    create.set_vcpu_count(vcpus);
    create.set_memory_mib(64);
    vmm::v1::Vm vm;
    grpc::Status status = stub_->CreateVm(Context().get(), create, &vm);
    ASSERT_TRUE(status.ok()) << status.error_message();
    vmm::v1::ConfigureBootRequest configure;
    configure.set_vm_id(vm_id);
    configure.set_kernel_path(daemon_->ImagePath(image));
    configure.set_cmdline("console=ttyS0");
    vmm::v1::BootInfo info;
    status = stub_->ConfigureBoot(Context().get(), configure, &info);
    ASSERT_TRUE(status.ok()) << status.error_message();
    vmm::v1::StartVcpusRequest start;
    start.set_vm_id(vm_id);
    status = stub_->StartVcpus(Context().get(), start, &vm);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  vmm::v1::Vm Get(const std::string& vm_id) {
    vmm::v1::GetVmRequest request;
    request.set_vm_id(vm_id);
    vmm::v1::Vm vm;
    EXPECT_TRUE(stub_->GetVm(Context().get(), request, &vm).ok());
    return vm;
  }

  // Polls GetVm (bounded) until `done` holds.
  template <typename Done>
  vmm::v1::Vm WaitFor(const std::string& vm_id, Done done) {
    vmm::v1::Vm vm;
    for (int i = 0; i < 3000; ++i) {
      vm = Get(vm_id);
      if (done(vm)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return vm;
  }

  std::string Console(const std::string& vm_id) {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id(vm_id);
    request.set_follow(true);
    auto context = Context();
    auto reader = stub_->StreamConsole(context.get(), request);
    std::string text;
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) text += chunk.data();
    EXPECT_TRUE(reader->Finish().ok());
    return text;
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(VcpuSeccompTest, VcpuThreadsAreConfinedAndNoOtherThreadIs) {
  Boot("sandboxed", 2, "idle_guest.elf");
  // The idle guest prints a line (COM1 through the irqfd), probes unbacked MMIO (a glog line
  // from the vCPU thread) and waits: both vCPU threads stay alive in KVM_RUN.
  vmm::v1::Vm vm = WaitFor("sandboxed", [](const vmm::v1::Vm& vm) { return vm.console_bytes() >= 18; });
  ASSERT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);

  // The application processor's thread may not have run yet (it only installs its filter
  // and waits for a SIPI): sample until both vCPU threads are confined, for at most 10 s.
  const std::regex vcpu_name(".*/vcpu[0-9]+");
  std::vector<ThreadState> threads;
  for (int attempt = 0; attempt < 500; ++attempt) {
    threads = Threads(daemon_->pid());
    int confined = 0;
    for (const ThreadState& thread : threads) {
      if (std::regex_match(thread.name, vcpu_name) && thread.seccomp == 2) ++confined;
    }
    if (confined == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Whatever the test runner itself runs under (a container's filter) is the baseline.
  ThreadState main_thread;
  for (const ThreadState& thread : threads) {
    if (thread.tid == std::to_string(daemon_->pid())) main_thread = thread;
  }
  ASSERT_GE(main_thread.seccomp_filters, 0) << "no Seccomp_filters in /proc (kernel < 5.9)";
  int vcpu_threads = 0;
  for (const ThreadState& thread : threads) {
    if (std::regex_match(thread.name, vcpu_name)) {
      ++vcpu_threads;
      EXPECT_EQ(thread.seccomp, 2) << thread.name;
      EXPECT_EQ(thread.seccomp_filters, main_thread.seccomp_filters + 1) << thread.name;
    } else if (thread.name.rfind("kvm-", 0) == 0) {
      // KVM's own worker for the VM (kvm-nx-lpage-recovery), started by the first KVM_RUN
      // and so inheriting that vCPU thread's filter; it runs kernel code only.
    } else {
      EXPECT_EQ(thread.seccomp, main_thread.seccomp) << thread.name;
      EXPECT_EQ(thread.seccomp_filters, main_thread.seccomp_filters) << thread.name;
      if (main_thread.seccomp_filters == 0) EXPECT_EQ(thread.seccomp, 0) << thread.name;
    }
  }
  EXPECT_EQ(vcpu_threads, 2) << daemon_->ThreadNames();

  // Kicks (a signal into KVM_RUN), parking and waking on a Mutex, all through the filter.
  vmm::v1::PauseVmRequest pause;
  pause.set_vm_id("sandboxed");
  grpc::Status status = stub_->PauseVm(Context().get(), pause, &vm);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_PAUSED);
  vmm::v1::ResumeVmRequest resume;
  resume.set_vm_id("sandboxed");
  status = stub_->ResumeVm(Context().get(), resume, &vm);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  vmm::v1::StopVmRequest stop;
  stop.set_vm_id("sandboxed");
  status = stub_->StopVm(Context().get(), stop, &vm);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "stopped by request");
  EXPECT_EQ(vm.unhandled_mmio_count(), 2u);

  const std::string log = daemon_->Log();
  EXPECT_THAT(log, HasSubstr("unhandled MMIO read")) << "the vCPU thread logged through glog";
  EXPECT_THAT(log, Not(HasSubstr("seccomp filter not installed")));
  // vmmd::Mutex reads the waiter's priority; a refused sched_getparam would show here.
  EXPECT_THAT(log, Not(HasSubstr("pthread_getschedparam failed")));
}

TEST_F(VcpuSeccompTest, GuestsBootResetAndTripleFaultUnderTheFilter) {
  Boot("hello", 2, "hello_guest.elf");
  const std::string console = Console("hello");
  EXPECT_THAT(console, HasSubstr("vmmd hello guest\r\nvcpus: 2\r\n"));
  EXPECT_THAT(console, HasSubstr("hello guest done, resetting"));
  EXPECT_EQ(Get("hello").exit_reason(), "guest reset");

  Boot("faulty", 1, "triple_fault_guest.elf");
  vmm::v1::Vm vm = WaitFor("faulty", [](const vmm::v1::Vm& vm) {
    return vm.state() == vmm::v1::VM_STATE_STOPPED;
  });
  EXPECT_EQ(vm.exit_reason(), "triple fault");
  // The register dump needs KVM_GET_REGS and KVM_GET_SREGS from the vCPU thread.
  EXPECT_THAT(daemon_->Log(), HasSubstr("triple fault; rip=0x"));
  EXPECT_THAT(daemon_->Log(), Not(HasSubstr("registers unavailable")));
}

}  // namespace
}  // namespace vmmd
