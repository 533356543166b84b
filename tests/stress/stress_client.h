// Helpers shared by the stress tests: a vmmd child process with the test guests in its image
// root, bounded RPCs, booting a guest in one call, and polling a VM until a condition holds.
#ifndef VMMD_TESTS_STRESS_STRESS_CLIENT_H_
#define VMMD_TESTS_STRESS_STRESS_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "tests/daemon/memory_bounds.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd::stress {

// Memory bounds hold only without a sanitizer (tests/daemon/memory_bounds.h).
using ::vmmd::testing::kMemoryBoundsApply;
using ::vmmd::testing::kSanitizedBuild;


// Runfiles paths of the daemon and of the guests the stress tests boot.
inline constexpr char kDaemon[] = "daemon/vmmd";
inline constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
inline constexpr char kIdleGuest[] = "tests/guest/idle_guest.elf";
inline constexpr char kTripleFaultGuest[] = "tests/guest/triple_fault_guest.elf";
inline constexpr char kSerialFloodGuest[] = "tests/guest/serial_flood_guest.elf";
inline constexpr char kPortSpinGuest[] = "tests/guest/port_spin_guest.elf";
inline constexpr char kMmioSpinGuest[] = "tests/guest/mmio_spin_guest.elf";

// Bounded RPCs and booting a guest in one call: tests/daemon/boot_client.h.
using ::vmmd::testing::BootGuest;
using ::vmmd::testing::Context;
using ::vmmd::testing::kRpcDeadline;

// Starts vmmd with the guests named by their runfiles paths copied into its image root.
// VMMD_STRESS_DAEMON_ENV="NAME=value,..." (--test_env) adds to the daemon's environment,
// e.g. MALLOC_ARENA_MAX=1 to tell heap fragmentation from a leak.
absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> StartDaemon(
    const std::vector<std::string>& images, const std::vector<std::string>& extra_flags = {});

// GetVm; the status is in *status_out when given.
vmm::v1::Vm GetVm(vmm::v1::VmmService::Stub& stub, const std::string& vm_id,
                  grpc::Status* status_out = nullptr);

// Polls GetVm (every 20 ms) until `done` holds or `timeout` passes; returns the last answer.
vmm::v1::Vm PollVm(vmm::v1::VmmService::Stub& stub, const std::string& vm_id,
                   absl::Duration timeout, const std::function<bool(const vmm::v1::Vm&)>& done);

grpc::Status DeleteVm(vmm::v1::VmmService::Stub& stub, const std::string& vm_id);

// StreamConsole without follow: what the ring holds now, with the offset of its first byte.
struct ConsoleReplay {
  std::string data;
  uint64_t first_offset = 0;
  int chunks = 0;
  bool contiguous = true;  // every chunk started where the previous one ended
  grpc::Status status;
};
ConsoleReplay ReplayConsole(vmm::v1::VmmService::Stub& stub, const std::string& vm_id);

// WatchVm until the stream ends (after STOPPED) or `deadline`: every event's reason,
// "STATE:reason", in order.
std::vector<std::string> WatchEvents(vmm::v1::VmmService::Stub& stub, const std::string& vm_id,
                                     std::chrono::milliseconds deadline, grpc::Status* status_out);

std::string MiB(uint64_t bytes);  // "12.3 MiB"

// The daemon's threads, not counting the two gRPC thread pools that only ever grow: gRPC
// 1.51's timer manager starts another "grpc_global_timer" whenever all of them are busy
// running timers and retires none until gRPC shuts down (src/core/lib/iomgr/timer_manager.cc:
// "The number of timer threads is always increasing until all the threads are stopped"), and
// its iomgr executors ("default-executor", "resolver-executor") add threads under load up to
// twice the cores and join them only at shutdown (src/core/lib/iomgr/executor.cc). Their
// counts are gRPC's high-water marks, not something a VM or a call left behind.
int ThreadsBesideGrpcPools(const testing::DaemonProcess& daemon);
// ThreadsBesideGrpcPools once it stops changing (two samples 200 ms apart agree, at most
// 5 s): gRPC's sync server retires the thread that served the last call a moment after it.
int SettledThreadsBesideGrpcPools(const testing::DaemonProcess& daemon);
int GrpcPoolThreads(const testing::DaemonProcess& daemon);

}  // namespace vmmd::stress

#endif  // VMMD_TESTS_STRESS_STRESS_CLIENT_H_
