// KernelRun: one VM of a Linux boot test booting a real kernel through the real vmmd, its
// console followed in the background until the VM stops (tests/linux: linux_boot_test,
// linux_drive_test, linux_network_test).
#ifndef VMMD_TESTS_LINUX_KERNEL_RUN_H_
#define VMMD_TESTS_LINUX_KERNEL_RUN_H_

#include <cstdint>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd::testing {

class KernelRun {
 public:
  // `daemon` (optional) is the vmmd behind `stub`: a boot that does not stop in time then
  // reports where its vCPU threads are.
  KernelRun(vmm::v1::VmmService::Stub* stub, std::string vm_id,
            const DaemonProcess* daemon = nullptr);
  // Deletes the VM once it was started (which ends the console stream).
  ~KernelRun();

  // CreateVm (`create`, with this run's vm_id), ConfigureBoot (`configure`, likewise) and
  // StartVcpus, following the console from before the vCPUs start. Returns the BootInfo;
  // a failed step fails the test (EXPECT) and starts nothing after it.
  vmm::v1::BootInfo Boot(vmm::v1::CreateVmRequest create, vmm::v1::ConfigureBootRequest configure);
  // The same for a VM with no devices; `acpi` is ConfigureBootRequest.acpi.
  vmm::v1::BootInfo Boot(uint32_t vcpus, uint64_t memory_mib, const std::string& kernel,
                         const std::string& protocol, const std::string& initrd,
                         const std::string& cmdline, const std::string& acpi);

  // Waits until the console stream ends (the VM stopped) or `bound` passes; returns the
  // console, and reports (on stderr and as the test property seconds_to_init) how long the
  // guest took from StartVcpus to its init's "...: reached userspace" line. When `bound`
  // passes first, it also reports what the vCPUs did in the last seconds (exits by kind) and
  // where vmmd's threads wait, to tell a guest spinning from a vCPU thread stuck in vmmd.
  std::string WaitForStop(absl::Duration bound);

  vmm::v1::Vm Get();

 private:
  void Follow();
  void ReportHang();

  vmm::v1::VmmService::Stub* const stub_;
  const std::string vm_id_;
  const DaemonProcess* const daemon_;
  std::thread follower_;
  absl::Mutex mutex_;
  absl::Time started_ ABSL_GUARDED_BY(mutex_);  // when StartVcpus was sent
  std::string console_ ABSL_GUARDED_BY(mutex_);
  absl::Duration to_init_ ABSL_GUARDED_BY(mutex_) = absl::InfiniteDuration();
  bool stream_ended_ ABSL_GUARDED_BY(mutex_) = false;
  grpc::ClientContext* follow_context_ ABSL_GUARDED_BY(mutex_) = nullptr;  // while following
};

// The console of an init that reports through init_checks.h (lines "PREFIX: check NAME: PASS
// (...)"): it reached userspace, each of `checks` passed, none failed, and it ended with
// "0 checks failed; `ending`". A failure quotes the console's end.
void ExpectInitChecks(const std::string& console, const std::string& prefix,
                      absl::Span<const char* const> checks,
                      const std::string& ending = "rebooting");

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_KERNEL_RUN_H_
