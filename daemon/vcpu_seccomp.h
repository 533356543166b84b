// The vCPU thread's sandbox: a seccomp filter (built with libseccomp) that each vCPU thread
// installs on itself before its first KVM_RUN. A vCPU thread runs guest-controlled exits
// through the device models; should a device bug ever let a guest take over that thread,
// the filter leaves it the handful of system calls the run loop needs and nothing else: no
// open, no socket, no exec, no fork, no signals to other threads; ioctls only on its own vCPU
// (KVM_RUN and the register reads of the crash dump) and its own VM (switching COM1's
// coalesced output); writes only to its own VM's interrupt eventfds and to stderr. What it
// can still reach is listed in docs/security.md.
#ifndef VMMD_DAEMON_VCPU_SECCOMP_H_
#define VMMD_DAEMON_VCPU_SECCOMP_H_

#include <vector>

#include "absl/status/status.h"

namespace vmmd {

// Installs the vCPU allowlist (see vcpu_seccomp.cc for each entry and why) on the calling
// thread only: no SECCOMP_FILTER_FLAG_TSYNC, so the daemon's other threads keep every system
// call. Also sets no_new_privs on the calling thread, which an unprivileged filter requires.
// Anything outside the allowlist then fails with EPERM in this thread, for the rest of its
// life. Returns INTERNAL (naming the libseccomp call) if the filter cannot be built or loaded;
// the thread is then unconfined and must not run a guest.
struct VcpuSeccompFds {
  int vcpu_fd;  // the thread's vCPU
  int vm_fd;    // the VM it belongs to
  // What the thread's devices write to: its VM's eventfds (COM1's irqfd, the virtio queues'
  // notifiers: Machine::VcpuWritableFds). stderr (glog) is always writable.
  std::vector<int> writable_fds;
};
absl::Status InstallVcpuSeccompFilter(const VcpuSeccompFds& fds);

}  // namespace vmmd

#endif  // VMMD_DAEMON_VCPU_SECCOMP_H_
