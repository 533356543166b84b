// End to end through the real vmmd binary on a temporary Unix socket (tag: requires-kvm):
// create, configure and start the hello guest, read its banner through StreamConsole, see
// it stop with "guest reset", delete it, and find the daemon's fds and threads back where
// they started. Also: many VMs at once, and a clean exit on SIGTERM.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::BootAndFollowConsole;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;
using ::vmmd::testing::WaitForValue;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
constexpr char kPortSpinGuest[] = "tests/guest/port_spin_guest.elf";
constexpr char kPoweroffGuest[] = "tests/guest/poweroff_guest.elf";

// The daemon's threads apart from gRPC's timer manager, which starts and retires its own
// threads as timers come and go, whatever vmmd does.
int ThreadsBesidesGrpcTimers(const DaemonProcess& daemon) {
  int count = 0;
  for (absl::string_view name : absl::StrSplit(daemon.ThreadNames(), ' ', absl::SkipEmpty())) {
    if (!absl::StartsWith(name, "grpc_global_tim")) ++count;
  }
  return count;
}

// The count once it stops changing (two samples 200 ms apart agree; at most 5 s): gRPC
// retires the thread that served the last call a moment after the call returns.
int Settled(const std::function<int()>& probe) {
  int last = probe();
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const int now = probe();
    if (now == last) return now;
    last = now;
  }
  return last;
}

class DaemonEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(kDaemon, {kHelloGuest, kPortSpinGuest, kPoweroffGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  // Create -> ConfigureBoot -> StartVcpus -> StreamConsole(follow) until the guest stops.
  // Returns the console text.
  std::string BootHelloGuest(const std::string& vm_id, uint32_t vcpus, uint64_t memory_mib,
                             const std::string& cmdline, vmm::v1::BootInfo* boot_info = nullptr) {
    return BootAndFollowConsole(*stub_, *daemon_, vm_id, "hello_guest.elf", vcpus, memory_mib,
                                cmdline, boot_info);
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

// ACPI's way off: S5 with SLP_EN on the sleep control register stops the VM, and says so.
TEST_F(DaemonEndToEndTest, AGuestThatPowersOffStopsWithGuestPoweroff) {
  const std::string console = BootAndFollowConsole(*stub_, *daemon_, "off", "poweroff_guest.elf", 1, 32,
                                                   "console=ttyS0");
  EXPECT_THAT(console, HasSubstr("powering off"));
  EXPECT_THAT(console, ::testing::Not(HasSubstr("still running")));
  vmm::v1::GetVmRequest get;
  get.set_vm_id("off");
  vmm::v1::Vm vm;
  ASSERT_TRUE(stub_->GetVm(Context().get(), get, &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "guest poweroff");
}

TEST_F(DaemonEndToEndTest, HelloGuestBootsPrintsItsBannerAndResets) {
  // One VM first: the daemon's threads and fds settle after its first VM (gRPC's own
  // threads), and that is the baseline a later VM must come back to.
  BootHelloGuest("warm-up", 1, 64, "console=ttyS0");
  grpc::ClientContext delete_context;
  vmm::v1::DeleteVmRequest warm_up;
  warm_up.set_vm_id("warm-up");
  vmm::v1::DeleteVmResponse deleted;
  ASSERT_TRUE(stub_->DeleteVm(&delete_context, warm_up, &deleted).ok());
  const int fds_before = Settled([&] { return daemon_->OpenFdCount(); });
  const int threads_before = Settled([&] { return ThreadsBesidesGrpcTimers(*daemon_); });
  const std::string thread_names_before = daemon_->ThreadNames();
  ASSERT_GT(fds_before, 0);

  vmm::v1::BootInfo info;
  const std::string console = BootHelloGuest("hello", 2, 128, "console=ttyS0 reboot=k", &info);
  const std::vector<std::string> lines = absl::StrSplit(console, "\r\n", absl::SkipEmpty());
  ASSERT_GE(lines.size(), 4u) << console;
  EXPECT_EQ(lines[0], "vmmd hello guest");
  EXPECT_EQ(lines[1], "vcpus: 2");
  EXPECT_EQ(lines[2], "memory: 128 MiB");
  ASSERT_EQ(info.e820_size(), 4);
  EXPECT_EQ(lines[3], "e820: [mem 0x0000000000000000-0x000000000009fbff] usable");
  // ACPI is on by default: the guest finds the tables' range and the root pointer.
  EXPECT_THAT(console, HasSubstr("e820: [mem 0x00000000000e0000-0x00000000000fffff] ACPI data\r\n"));
  EXPECT_THAT(console, HasSubstr("acpi: RSDP at 0x00000000000e0000\r\n"));
  EXPECT_EQ(info.acpi_rsdp_address(), 0xe0000u);
  EXPECT_THAT(console, HasSubstr("cmdline: console=ttyS0 reboot=k\r\n"));
  EXPECT_THAT(console, HasSubstr("hello guest done, resetting"));
  EXPECT_EQ(info.entry_point(), 0x100000u);
  EXPECT_EQ(info.mp_table_address(), 0x9fc00u);

  vmm::v1::GetVmRequest get;
  get.set_vm_id("hello");
  vmm::v1::Vm vm;
  ASSERT_TRUE(stub_->GetVm(Context().get(), get, &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "guest reset");
  EXPECT_EQ(vm.console_bytes(), console.size());

  // The stopped VM holds its 128 MiB of guest RAM until it is deleted.
  const uint64_t mapped_before_delete = daemon_->VirtualMemoryBytes();
  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id("hello");
  ASSERT_TRUE(stub_->DeleteVm(Context().get(), remove, &deleted).ok());
  EXPECT_GE(mapped_before_delete - daemon_->VirtualMemoryBytes(), uint64_t{128} << 20)
      << "guest RAM unmapped";
  EXPECT_EQ(stub_->GetVm(Context().get(), get, &vm).error_code(), grpc::StatusCode::NOT_FOUND);

  // Every vCPU and worker thread joined, every VM, vCPU, irqfd and eventfd closed.
  EXPECT_EQ(daemon_->VmThreadCount(), 0) << daemon_->ThreadNames();
  EXPECT_EQ(WaitForValue(threads_before, absl::Seconds(30),
                         [&] { return ThreadsBesidesGrpcTimers(*daemon_); }),
            threads_before)
      << "before: " << thread_names_before << "\nafter: " << daemon_->ThreadNames();
  EXPECT_EQ(WaitForValue(fds_before, absl::Seconds(30), [&] { return daemon_->OpenFdCount(); }),
            fds_before);
}

TEST_F(DaemonEndToEndTest, SixteenVmsBootInParallel) {
  constexpr int kVms = 16;
  std::vector<std::thread> clients;
  std::vector<std::string> consoles(kVms);
  for (int i = 0; i < kVms; ++i) {
    clients.emplace_back([&, i] {
      consoles[i] = BootHelloGuest(absl::StrCat("parallel-", i), 1 + i % 2, 32 + i, "console=ttyS0");
      vmm::v1::DeleteVmRequest remove;
      remove.set_vm_id(absl::StrCat("parallel-", i));
      vmm::v1::DeleteVmResponse deleted;
      grpc::Status status = stub_->DeleteVm(Context().get(), remove, &deleted);
      EXPECT_TRUE(status.ok()) << status.error_message();
    });
  }
  for (std::thread& client : clients) client.join();
  for (int i = 0; i < kVms; ++i) {
    EXPECT_THAT(consoles[i], HasSubstr(absl::StrCat("vcpus: ", 1 + i % 2, "\r\n"))) << "vm " << i;
    EXPECT_THAT(consoles[i], HasSubstr(absl::StrCat("memory: ", 32 + i, " MiB\r\n"))) << "vm " << i;
  }
  vmm::v1::ListVmsResponse list;
  ASSERT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list).ok());
  EXPECT_EQ(list.vms_size(), 0);
}

// vmmd tells systemd it is ready (Type=notify): READY=1 on $NOTIFY_SOCKET once it serves.
TEST(DaemonNotifyTest, ReportsReadinessToSystemd) {
  ASSERT_TRUE(::vmmd::testing::KvmUsable());
  std::string dir = "/tmp/vmmd-notify-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/notify.sock";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);

  auto daemon = DaemonProcess::Start(kDaemon, {}, {}, {"NOTIFY_SOCKET=" + path});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  timeval timeout = {10, 0};  // a bound, so a silent daemon fails instead of hanging
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  char message[512] = {};
  ssize_t received = ::recv(fd, message, sizeof(message) - 1, 0);
  ASSERT_GT(received, 0) << "no sd_notify message";
  EXPECT_THAT(std::string(message, received), HasSubstr("READY=1"));
  ::close(fd);
  std::string remove = "rm -rf '" + dir + "'";
  [[maybe_unused]] int ignored = ::system(remove.c_str());
}

// SIGTERM with guests running on every vCPU (two spinners that never stop exiting), one only
// created, and a client following a console: each VM is stopped and deleted, the stream
// ends, and the daemon exits 0.
TEST_F(DaemonEndToEndTest, SigtermStopsRunningVmsAndExitsCleanly) {
  ASSERT_TRUE(BootGuest(*stub_, *daemon_, "left-running", "port_spin_guest.elf", "console=ttyS0",
                        /*vcpus=*/2)
                  .ok());
  vmm::v1::CreateVmRequest create;
  create.set_vm_id("left-created");
  create.set_vcpu_count(1);
  create.set_memory_mib(32);
  vmm::v1::Vm vm;
  ASSERT_TRUE(stub_->CreateVm(Context().get(), create, &vm).ok());
  // The spinner runs: its unhandled port accesses count up.
  vmm::v1::GetVmRequest get;
  get.set_vm_id("left-running");
  for (int i = 0; i < 1500 && vm.unhandled_io_count() < 1000; ++i) {  // 30 s at most
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->GetVm(&context, get, &vm).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(vm.unhandled_io_count(), 1000u) << "the guest is not running";
  ASSERT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  // A follower, whose stream SIGTERM must end.
  grpc::Status follow_status(grpc::StatusCode::UNKNOWN, "not ended");
  std::thread follower([&] {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id("left-running");
    request.set_follow(true);
    auto context = Context();
    auto reader = stub_->StreamConsole(context.get(), request);
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) {
    }
    follow_status = reader->Finish();
  });

  absl::StatusOr<int> status = daemon_->Terminate(absl::Seconds(30));
  follower.join();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  const std::string log = daemon_->Log();
  EXPECT_THAT(log, HasSubstr("vm left-running: stopped: deleted"));
  EXPECT_THAT(log, HasSubstr("vm left-created: stopped: deleted"));
  EXPECT_THAT(log, HasSubstr("vmmd stopped"));
  // Ended by the daemon (the console closed), or cut by its exit: never left hanging.
  EXPECT_NE(follow_status.error_code(), grpc::StatusCode::UNKNOWN) << follow_status.error_message();
  EXPECT_NE(follow_status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  struct stat info;
  EXPECT_NE(::stat(daemon_->socket_path().c_str(), &info), 0) << "socket removed";
}

}  // namespace
}  // namespace vmmd
