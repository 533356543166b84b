// KernelTest: the fixture of the tests that hand Debian's kernels to the real vmmd
// (linux_boot_test, linux_drive_test, linux_network_test, malformed_kernel_test). SetUp
// requires KVM and the kernel cache (missing kernels fail, never skip) and starts the daemon
// with two image roots: its own, holding `images`, and the cache, and any daemon_flags_ a
// subclass added; a failed test prints the daemon's log.
#ifndef VMMD_TESTS_LINUX_KERNEL_TEST_H_
#define VMMD_TESTS_LINUX_KERNEL_TEST_H_

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/daemon_process.h"
#include "tests/linux/kernel_cache.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd::testing {

// The command line the boot tests give the kernel (vmmd appends the devices' parts).
// reboot=k: a reboot reaches the i8042, which vmmd answers by stopping the VM. quiet: each
// console character costs two exits (the 8250 driver polls LSR before each THR write), which
// in the test VM makes a full boot log a minute of printing; the inits repeat the kernel's
// lines the tests check, from its log.
inline constexpr char kKernelCmdline[] = "console=ttyS0 reboot=k panic=-1 quiet";

// How long a boot may take to stop: a hang guard, not a goal. Measured in the test VM (QEMU
// TCG, 2 cores): Debian's kernels reach /init 7-57 s after StartVcpus and stop by 66 s; each
// case prints its time. A guest stalled by the test platform then costs 5 minutes, not 10.
inline constexpr absl::Duration kBootBound = absl::Minutes(5);

class KernelTest : public ::testing::Test {
 protected:
  // `images`: runfiles paths copied into the daemon's own image root.
  explicit KernelTest(std::vector<std::string> images = {}) : images_(std::move(images)) {}

  void SetUp() override {
    ASSERT_TRUE(KvmUsable());
    cache_ = KernelCache();
    ASSERT_TRUE(KernelsFetched(cache_));
    std::vector<std::string> flags = daemon_flags_;
    flags.push_back("--image_root=" + cache_);
    auto daemon = DaemonProcess::Start("daemon/vmmd", images_, flags);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  const std::vector<std::string> images_;
  // More flags for the daemon: a subclass's SetUp may add some before calling this one's.
  std::vector<std::string> daemon_flags_;
  std::string cache_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_KERNEL_TEST_H_
