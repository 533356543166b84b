#include "daemon/vcpu_seccomp.h"

#include <errno.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/errno_status.h"

// Sanitizer builds (tools/bazel-clang --config=asan, tsan) run runtime code in every thread.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VMMD_VCPU_SECCOMP_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VMMD_VCPU_SECCOMP_SANITIZER 1
#endif
#endif

namespace vmmd {
namespace {

// What happens to a system call the allowlist does not name: it fails with EPERM, and only
// that call. Not SCMP_ACT_KILL_PROCESS: vmmd is one process for every VM on the host, so a
// kill would take all of them (and the API) down with one guest; and not SCMP_ACT_KILL_THREAD
// either, which would leave a VM with a vanished vCPU thread, its locks possibly held. With
// EPERM the thread gets an error it can report (KVM_RUN failing stops the VM with a reason),
// the daemon and the other VMs carry on, and a hijacked thread still gets nothing done.
constexpr uint32_t kDefaultAction = SCMP_ACT_ERRNO(EPERM);

// The kernel reads ioctl's request as an unsigned int (fs/ioctl.c): compare the low 32 bits
// only, so that the filter decides on what the kernel will see.
scmp_arg_cmp IoctlRequestIs(unsigned long request) {
  return SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request);
}

// The fd an ioctl goes to: a hijacked thread must not reach another VM's vCPUs or zones,
// which live in the same process. fds are ints to the kernel too: low 32 bits.
scmp_arg_cmp FdIs(int fd) {
  return SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, static_cast<uint32_t>(fd));
}

// mmap and mprotect: never executable memory (the vCPU thread has no code to load).
scmp_arg_cmp NotExecutable() { return SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0); }
// mmap: never MAP_FIXED, which would replace whatever is mapped there (another VM's guest
// RAM). glibc's malloc maps its heaps without it; the sanitizers' allocators need it.
scmp_arg_cmp NotFixed() { return SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_FIXED | MAP_FIXED_NOREPLACE, 0); }

struct Rule {
  int syscall;
  const char* name;
  std::optional<scmp_arg_cmp> argument;  // a condition on one argument; none: any arguments
  std::optional<scmp_arg_cmp> second;    // and on another
};

// libseccomp returns -errno. Every failure here is the host's (kernel or library), not a
// client's: INTERNAL, naming the call and the errno.
absl::Status SeccompError(int rc, absl::string_view call) {
  return absl::InternalError(::vmmd::ErrnoToStatus(-rc, call).message());
}

struct FilterDeleter {
  void operator()(void* context) const { seccomp_release(context); }
};

}  // namespace

absl::Status InstallVcpuSeccompFilter(const VcpuSeccompFds& fds) {
  std::unique_ptr<void, FilterDeleter> filter(seccomp_init(kDefaultAction));
  if (filter == nullptr) return absl::InternalError("seccomp_init failed");
  // This thread only (the default, said explicitly): the daemon's gRPC, worker and signal
  // threads must keep open, socket and the rest.
  if (int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 0); rc < 0) {
    return SeccompError(rc, "seccomp_attr_set(SCMP_FLTATR_CTL_TSYNC, 0)");
  }
  // A system call made through another ABI (int 0x80 on x86_64) is refused the same way.
  if (int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, kDefaultAction); rc < 0) {
    return SeccompError(rc, "seccomp_attr_set(SCMP_FLTATR_ACT_BADARCH)");
  }

  const scmp_datum_t own_tid = static_cast<scmp_datum_t>(::gettid());
  // Found by running the daemon's tests and real kernels with the filter in SCMP_ACT_LOG mode
  // and under `strace -f`; each entry says who needs it.
  const Rule rules[] = {
      // The run loop itself: KVM_RUN on this vCPU's fd (kvm/vcpu.cc Vcpu::Run).
      {SCMP_SYS(ioctl), "ioctl(own vCPU, KVM_RUN)", FdIs(fds.vcpu_fd), IoctlRequestIs(KVM_RUN)},
      // The register dump logged on a triple fault or a KVM internal error (RegisterDump).
      {SCMP_SYS(ioctl), "ioctl(own vCPU, KVM_GET_REGS)", FdIs(fds.vcpu_fd),
       IoctlRequestIs(KVM_GET_REGS)},
      {SCMP_SYS(ioctl), "ioctl(own vCPU, KVM_GET_SREGS)", FdIs(fds.vcpu_fd),
       IoctlRequestIs(KVM_GET_SREGS)},
      // Turning COM1's coalesced THR writes on and off as the guest flips its THR-empty
      // interrupt (daemon/coalesced_port_writes.h), on its own VM.
      {SCMP_SYS(ioctl), "ioctl(own VM, KVM_REGISTER_COALESCED_MMIO)", FdIs(fds.vm_fd),
       IoctlRequestIs(KVM_REGISTER_COALESCED_MMIO)},
      {SCMP_SYS(ioctl), "ioctl(own VM, KVM_UNREGISTER_COALESCED_MMIO)", FdIs(fds.vm_fd),
       IoctlRequestIs(KVM_UNREGISTER_COALESCED_MMIO)},
      // glog's lines (--logtostderr) and the sanitizers' reports. The devices' interrupt
      // eventfds are added below; the console log is written by the worker, not here.
      {SCMP_SYS(write), "write(stderr)", FdIs(STDERR_FILENO)},
      // Mutex and CondVar (devices, the console ring, the worker's queue, pausing).
      {SCMP_SYS(futex), "futex", std::nullopt},
      // Mutex backs off under contention: it spins, yields, then sleeps.
      {SCMP_SYS(sched_yield), "sched_yield", std::nullopt},
      {SCMP_SYS(clock_nanosleep), "clock_nanosleep", std::nullopt},
      // Mutex reads the thread's priority (pthread_getschedparam) when it queues a
      // waiter; glibc asks the kernel about this thread, by its tid.
      {SCMP_SYS(sched_getparam), "sched_getparam(own thread)", SCMP_A0(SCMP_CMP_EQ, own_tid)},
      {SCMP_SYS(sched_getparam), "sched_getparam(0)", SCMP_A0(SCMP_CMP_EQ, 0)},
      {SCMP_SYS(sched_getscheduler), "sched_getscheduler(own thread)",
       SCMP_A0(SCMP_CMP_EQ, own_tid)},
      {SCMP_SYS(sched_getscheduler), "sched_getscheduler(0)", SCMP_A0(SCMP_CMP_EQ, 0)},
      // Time for glog lines and Mutex deadlines: the vDSO answers, except on clocksources it
      // cannot read, where glibc falls back to the system call.
      {SCMP_SYS(clock_gettime), "clock_gettime", std::nullopt},
      {SCMP_SYS(gettimeofday), "gettimeofday", std::nullopt},
      // Returning from the kick signal's handler (SIGRTMIN pulls the thread out of KVM_RUN).
      {SCMP_SYS(rt_sigreturn), "rt_sigreturn", std::nullopt},
      // After SIGSTOP/SIGCONT (a debugger, kill -STOP) the kernel resumes a sleep with this.
      {SCMP_SYS(restart_syscall), "restart_syscall", std::nullopt},
      // glibc blocks signals while the thread exits. (No tgkill: when a guest stops its VM,
      // the worker kicks the other vCPUs, not this thread.)
      {SCMP_SYS(rt_sigprocmask), "rt_sigprocmask", std::nullopt},
      // glog puts the thread id in each line.
      {SCMP_SYS(gettid), "gettid", std::nullopt},
      // malloc (log lines, stop reasons, the worker's task queue): vmmd runs one arena
      // (main.cc), grown with brk; big blocks are mapped and unmapped on their own; madvise
      // gives freed pages back. Never executable. munmap and madvise cannot be held to this
      // thread's own memory (a filter sees numbers, not owners): docs/security.md says what
      // that leaves a hijacked thread, and what process-per-VM would add.
#ifdef VMMD_VCPU_SECCOMP_SANITIZER
      {SCMP_SYS(mmap), "mmap(no PROT_EXEC)", NotExecutable()},
#else
      {SCMP_SYS(mmap), "mmap(no PROT_EXEC, no MAP_FIXED)", NotExecutable(), NotFixed()},
#endif
      {SCMP_SYS(mprotect), "mprotect(no PROT_EXEC)", NotExecutable()},
      {SCMP_SYS(madvise), "madvise", std::nullopt},
      {SCMP_SYS(munmap), "munmap", std::nullopt},
      {SCMP_SYS(brk), "brk", std::nullopt},
      // The end of the thread: glibc releases the unused stack (madvise, above) and exits the
      // thread, not the process.
      {SCMP_SYS(exit), "exit", std::nullopt},
#ifdef VMMD_VCPU_SECCOMP_SANITIZER
      // Sanitizer builds only: ASan takes down the thread's alternate signal stack at exit.
      {SCMP_SYS(sigaltstack), "sigaltstack", std::nullopt},
#endif
  };
  std::vector<Rule> all(std::begin(rules), std::end(rules));
  for (int fd : fds.writable_fds) {
    all.push_back({SCMP_SYS(write), "write(own VM's eventfd)", FdIs(fd), std::nullopt});
  }
  for (const Rule& rule : all) {
    scmp_arg_cmp conditions[2];
    unsigned int count = 0;
    for (const std::optional<scmp_arg_cmp>& condition : {rule.argument, rule.second}) {
      if (condition.has_value()) conditions[count++] = *condition;
    }
    const int rc = seccomp_rule_add_exact_array(filter.get(), SCMP_ACT_ALLOW, rule.syscall,
                                                count, conditions);
    if (rc < 0) return SeccompError(rc, absl::StrCat("seccomp_rule_add(", rule.name, ")"));
  }
  if (int rc = seccomp_load(filter.get()); rc < 0) {
    return SeccompError(rc, "seccomp_load(vCPU filter)");
  }
  return absl::OkStatus();
}

}  // namespace vmmd
