// The vCPU seccomp filter in a thread of its own: what it refuses (with EPERM), what it still
// allows, and that it confines only the thread that installed it.
#include "daemon/vcpu_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

// As in vcpu_seccomp.cc: sanitizer builds allow MAP_FIXED (their allocators need it).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VMMD_VCPU_SECCOMP_TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VMMD_VCPU_SECCOMP_TEST_SANITIZER 1
#endif
#endif

namespace vmmd {
namespace {

using ::testing::HasSubstr;

// 0 if the call succeeded, else its errno.
int ErrorOf(long result) { return result < 0 ? errno : 0; }

// The "Seccomp:" and "Seccomp_filters:" values of one thread of this process.
struct SeccompState {
  int mode = -1;
  int filters = -1;
};
SeccompState ThreadSeccomp(pid_t tid) {
  std::ifstream status(absl::StrCat("/proc/self/task/", tid, "/status"));
  SeccompState state;
  std::string line;
  while (std::getline(status, line)) {
    std::sscanf(line.c_str(), "Seccomp: %d", &state.mode);
    std::sscanf(line.c_str(), "Seccomp_filters: %d", &state.filters);
  }
  return state;
}

// A one-way gate between two threads: std::mutex and condition_variable, i.e. futex.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

TEST(VcpuSeccompTest, ConfinesOnlyTheCallingThread) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  // Memory the process holds, as another VM's RAM.
  void* victim = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(victim, MAP_FAILED);
  static_cast<char*>(victim)[0] = 'v';
  // The thread's own VM's interrupt eventfd, and another VM's.
  const int own_eventfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const int other_eventfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(own_eventfd, 0);
  ASSERT_GE(other_eventfd, 0);
  // A thread of this process the confined one should not be able to signal.
  Gate bystander_done;
  pid_t bystander_tid = 0;
  Gate bystander_started;
  std::thread bystander([&] {
    bystander_tid = ::gettid();
    bystander_started.Open();
    bystander_done.Wait();
  });
  bystander_started.Wait();
  const SeccompState before = ThreadSeccomp(::gettid());

  absl::Status installed;
  pid_t confined_tid = 0;
  std::map<std::string, int> errors;  // call -> 0 or errno, from the confined thread
  Gate installed_gate, go_gate;
  std::thread confined([&] {
    confined_tid = ::gettid();
    installed = InstallVcpuSeccompFilter({-1, -1, {own_eventfd}});  // no KVM fds here
    installed_gate.Open();
    if (!installed.ok()) return;
    go_gate.Wait();  // futex, with the filter in place

    // Refused: what a hijacked vCPU thread would want.
    errors["socket"] = ErrorOf(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    errors["openat(/etc/hostname)"] = ErrorOf(::openat(AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC));
    // A path that does not exist: unconfined, this is ENOENT (and nothing runs).
    char* no_args[] = {nullptr};
    errors["execve"] = ErrorOf(::execve("/nonexistent/vmmd-seccomp-test", no_args, no_args));
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);  // only if the filter failed to stop fork
    errors["fork"] = ErrorOf(child);
    termios terminal;
    errors["ioctl(TCGETS)"] = ErrorOf(::ioctl(pipe_fds[0], TCGETS, &terminal));  // ENOTTY unconfined
    void* code = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errors["mmap(PROT_EXEC)"] = code == MAP_FAILED ? errno : 0;
    // Another VM's interrupt, any other fd, a signal to another thread (SIGKILL would take
    // the whole daemon), even signal 0.
    const uint64_t one = 1;
    errors["write(another VM's eventfd)"] = ErrorOf(::write(other_eventfd, &one, sizeof(one)));
    errors["write(pipe)"] = ErrorOf(::write(pipe_fds[1], "v", 1));
    errors["tgkill(another thread, 0)"] = ErrorOf(::syscall(SYS_tgkill, ::getpid(), bystander_tid, 0));
    errors["tgkill(another thread, SIGKILL)"] =
        ErrorOf(::syscall(SYS_tgkill, ::getpid(), bystander_tid, SIGKILL));
    errors["kill(own process, SIGKILL)"] = ErrorOf(::syscall(SYS_kill, ::getpid(), SIGKILL));
#ifndef VMMD_VCPU_SECCOMP_TEST_SANITIZER
    // Mapping over memory the process holds (another VM's RAM): the page of `victim`.
    void* fixed = ::mmap(victim, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    errors["mmap(MAP_FIXED)"] = fixed == MAP_FAILED ? errno : 0;
#endif

    // Allowed: what the run loop and the devices do.
    errors["write(own eventfd)"] = ErrorOf(::write(own_eventfd, &one, sizeof(one)));
    void* data = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errors["mmap(rw)"] = data == MAP_FAILED ? errno : 0;
    if (data != MAP_FAILED) errors["munmap"] = ErrorOf(::munmap(data, 1 << 20));
    std::vector<char> heap(8 << 20, 'x');  // malloc beyond its mmap threshold
    errors["malloc"] = heap.back() == 'x' ? 0 : -1;
  });
  installed_gate.Wait();
  ASSERT_TRUE(installed.ok()) << installed;

  // The confined thread is marked in /proc; this one is not, and keeps every system call.
  const SeccompState confined_state = ThreadSeccomp(confined_tid);
  EXPECT_EQ(confined_state.mode, 2);
  EXPECT_EQ(confined_state.filters, before.filters + 1);
  const SeccompState after = ThreadSeccomp(::gettid());
  EXPECT_EQ(after.mode, before.mode);
  EXPECT_EQ(after.filters, before.filters);
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(sock, 0) << "socket() in an unconfined thread: errno " << errno;
  if (sock >= 0) ::close(sock);
  const int file = ::openat(AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(file, 0) << "openat() in an unconfined thread: errno " << errno;
  if (file >= 0) ::close(file);
  // So is a thread started after the filter was installed.
  int later_socket_error = -1;
  std::thread([&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    later_socket_error = ErrorOf(fd);
    if (fd >= 0) ::close(fd);
  }).join();
  EXPECT_EQ(later_socket_error, 0);

  go_gate.Open();
  confined.join();

  bystander_done.Open();
  bystander.join();

  std::vector<std::string> refused = {"socket", "openat(/etc/hostname)", "execve", "fork",
                                      "ioctl(TCGETS)", "mmap(PROT_EXEC)",
                                      "write(another VM's eventfd)", "write(pipe)",
                                      "tgkill(another thread, 0)", "tgkill(another thread, SIGKILL)",
                                      "kill(own process, SIGKILL)"};
#ifndef VMMD_VCPU_SECCOMP_TEST_SANITIZER
  refused.push_back("mmap(MAP_FIXED)");
  EXPECT_EQ(static_cast<volatile char*>(victim)[0], 'v') << "the page mapped over";
#endif
  for (const std::string& call : refused) {
    EXPECT_EQ(errors[call], EPERM) << call << " in the confined thread";
  }
  for (const char* allowed : {"write(own eventfd)", "mmap(rw)", "munmap", "malloc"}) {
    EXPECT_EQ(errors[allowed], 0) << allowed << " in the confined thread";
  }
  uint64_t count = 0;
  EXPECT_EQ(::read(own_eventfd, &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(::read(other_eventfd, &count, sizeof(count)), -1) << "another VM's eventfd was written";
  char byte = 0;
  EXPECT_EQ(::read(pipe_fds[0], &byte, 1), -1) << "the pipe was written";
  for (int fd : {pipe_fds[0], pipe_fds[1], own_eventfd, other_eventfd}) ::close(fd);
  ::munmap(victim, 4096);
}

// The vCPU ioctls: the register reads of the crash dump pass on the thread's own vCPU, the
// coalesced-output switch on its own VM; anything that changes a vCPU or the VM does not,
// and nothing reaches another VM. (KVM_RUN itself is exercised by every daemon test that
// boots a guest.)
TEST(VcpuSeccompTest, OnlyTheRunLoopsIoctlsOnItsOwnVcpuAndVmPass) {
  ASSERT_TRUE(::vmmd::testing::KvmUsable());
  absl::StatusOr<KvmSystem> kvm = KvmSystem::Open();
  ASSERT_TRUE(kvm.ok()) << kvm.status();
  absl::StatusOr<Vm> vm = kvm->CreateVm();
  ASSERT_TRUE(vm.ok()) << vm.status();
  absl::StatusOr<std::unique_ptr<Vcpu>> vcpu = vm->CreateVcpu(0);
  ASSERT_TRUE(vcpu.ok()) << vcpu.status();
  absl::StatusOr<Vm> other_vm = kvm->CreateVm();
  ASSERT_TRUE(other_vm.ok()) << other_vm.status();
  absl::StatusOr<std::unique_ptr<Vcpu>> other_vcpu = other_vm->CreateVcpu(0);
  ASSERT_TRUE(other_vcpu.ok()) << other_vcpu.status();

  absl::Status installed, get_regs, get_sregs, set_regs, get_fpu, create_vcpu, coalesce_own,
      uncoalesce_own, other_get_regs, coalesce_other;
  std::thread confined([&] {
    installed = InstallVcpuSeccompFilter({(*vcpu)->fd(), vm->fd()});
    if (!installed.ok()) return;
    absl::StatusOr<kvm_regs> regs = (*vcpu)->GetRegs();
    get_regs = regs.status();
    get_sregs = (*vcpu)->GetSregs().status();
    set_regs = (*vcpu)->SetRegs(regs.ok() ? *regs : kvm_regs{});
    get_fpu = (*vcpu)->GetFpu().status();
    create_vcpu = vm->CreateVcpu(1).status();
    coalesce_own = vm->RegisterCoalescedPio(0x3f8, 1);
    uncoalesce_own = vm->UnregisterCoalescedPio(0x3f8, 1);
    other_get_regs = (*other_vcpu)->GetRegs().status();
    coalesce_other = other_vm->RegisterCoalescedPio(0x3f8, 1);
  });
  confined.join();
  ASSERT_TRUE(installed.ok()) << installed;
  EXPECT_TRUE(get_regs.ok()) << get_regs;
  EXPECT_TRUE(get_sregs.ok()) << get_sregs;
  EXPECT_TRUE(coalesce_own.ok()) << coalesce_own;
  EXPECT_TRUE(uncoalesce_own.ok()) << uncoalesce_own;
  for (const absl::Status& refused :
       {set_regs, get_fpu, create_vcpu, other_get_regs, coalesce_other}) {
    EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
    EXPECT_THAT(std::string(refused.message()), HasSubstr("(errno 1)"));
  }
  // Unconfined, the same calls work.
  EXPECT_TRUE((*vcpu)->GetFpu().ok());
  EXPECT_TRUE(vm->CreateVcpu(1).ok());
}

}  // namespace
}  // namespace vmmd
