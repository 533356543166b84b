#include "tests/stress/stress_client.h"

#include <cstdlib>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace vmmd::stress {

absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> StartDaemon(
    const std::vector<std::string>& images, const std::vector<std::string>& extra_flags) {
  std::vector<std::string> environment;
  if (const char* value = std::getenv("VMMD_STRESS_DAEMON_ENV"); value != nullptr) {
    environment = absl::StrSplit(value, ',', absl::SkipEmpty());
  }
  return testing::DaemonProcess::Start(kDaemon, images, extra_flags, environment);
}

vmm::v1::Vm GetVm(vmm::v1::VmmService::Stub& stub, const std::string& vm_id,
                  grpc::Status* status_out) {
  vmm::v1::GetVmRequest request;
  request.set_vm_id(vm_id);
  vmm::v1::Vm vm;
  grpc::Status status = stub.GetVm(Context().get(), request, &vm);
  if (status_out != nullptr) *status_out = status;
  return vm;
}

vmm::v1::Vm PollVm(vmm::v1::VmmService::Stub& stub, const std::string& vm_id,
                   absl::Duration timeout, const std::function<bool(const vmm::v1::Vm&)>& done) {
  const absl::Time deadline = absl::Now() + timeout;
  vmm::v1::Vm vm = GetVm(stub, vm_id);
  while (!done(vm) && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    vm = GetVm(stub, vm_id);
  }
  return vm;
}

grpc::Status DeleteVm(vmm::v1::VmmService::Stub& stub, const std::string& vm_id) {
  vmm::v1::DeleteVmRequest request;
  request.set_vm_id(vm_id);
  vmm::v1::DeleteVmResponse response;
  return stub.DeleteVm(Context().get(), request, &response);
}

ConsoleReplay ReplayConsole(vmm::v1::VmmService::Stub& stub, const std::string& vm_id) {
  vmm::v1::StreamConsoleRequest request;
  request.set_vm_id(vm_id);
  request.set_follow(false);
  auto context = Context();
  auto reader = stub.StreamConsole(context.get(), request);
  ConsoleReplay replay;
  vmm::v1::ConsoleChunk chunk;
  while (reader->Read(&chunk)) {
    if (replay.chunks == 0) {
      replay.first_offset = chunk.offset();
    } else if (chunk.offset() != replay.first_offset + replay.data.size()) {
      replay.contiguous = false;
    }
    replay.data += chunk.data();
    ++replay.chunks;
  }
  replay.status = reader->Finish();
  return replay;
}

std::vector<std::string> WatchEvents(vmm::v1::VmmService::Stub& stub, const std::string& vm_id,
                                     std::chrono::milliseconds deadline, grpc::Status* status_out) {
  vmm::v1::WatchVmRequest request;
  request.set_vm_id(vm_id);
  auto context = Context(deadline);
  auto reader = stub.WatchVm(context.get(), request);
  std::vector<std::string> events;
  vmm::v1::VmEvent event;
  while (reader->Read(&event)) {
    events.push_back(
        absl::StrFormat("%s:%s", vmm::v1::VmState_Name(event.state()), event.reason()));
  }
  grpc::Status status = reader->Finish();
  if (status_out != nullptr) *status_out = status;
  return events;
}

namespace {

// Thread names are /proc's comm, truncated to 15 bytes.
bool IsGrpcPoolThread(absl::string_view name) {
  return name == "grpc_global_tim" || name == "default-executo" || name == "resolver-execut";
}

int CountThreads(const testing::DaemonProcess& daemon, bool pool) {
  int count = 0;
  for (absl::string_view name : absl::StrSplit(daemon.ThreadNames(), ' ', absl::SkipEmpty())) {
    if (IsGrpcPoolThread(name) == pool) ++count;
  }
  return count;
}

}  // namespace

int SettledThreadsBesideGrpcPools(const testing::DaemonProcess& daemon) {
  int last = ThreadsBesideGrpcPools(daemon);
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const int now = ThreadsBesideGrpcPools(daemon);
    if (now == last) return now;
    last = now;
  }
  return last;
}

int ThreadsBesideGrpcPools(const testing::DaemonProcess& daemon) {
  return CountThreads(daemon, false);
}
int GrpcPoolThreads(const testing::DaemonProcess& daemon) { return CountThreads(daemon, true); }

std::string MiB(uint64_t bytes) { return absl::StrFormat("%.1f MiB", bytes / 1048576.0); }

}  // namespace vmmd::stress
