// vmmd's Prometheus endpoint (--metrics_listen) through the real vmmd binary (tag:
// requires-kvm), scraped as a fleet scrapes it: with curl over HTTP, on a Unix socket and on
// loopback TCP, and checked by Prometheus's own promtool. A spinning guest, a guest that drives
// a virtio-blk drive and a guest that prints give the per-VM series values to check, and they
// move as the guests run; a deleted VM's series are gone from the next scrape.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "tests/daemon/promtool.h"
#include "tests/linux/host_command.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::CommandResult;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;

constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
constexpr char kSpinGuest[] = "tests/guest/port_spin_guest.elf";
constexpr char kBlkGuest[] = "tests/guest/virtio_blk_guest.elf";

struct Scrape {
  std::string status_and_type;  // "200 text/plain; ..."
  std::string page;
};

// GET `url` with curl (over `unix_socket` when given).
Scrape Curl(const std::string& url, const std::string& unix_socket = "",
            const std::string& method = "GET") {
  std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "-X", method, "-w", "\n%{http_code} %{content_type}"};
  if (!unix_socket.empty()) {
    argv.push_back("--unix-socket");
    argv.push_back(unix_socket);
  }
  argv.push_back(url);
  const CommandResult result = ::vmmd::testing::RunCommand(argv);
  EXPECT_EQ(result.exit_status, 0) << "curl " << url << ": " << result.err;
  Scrape scrape;
  const size_t last_line = result.out.rfind('\n');
  if (last_line == std::string::npos) return scrape;
  scrape.page = result.out.substr(0, last_line);
  scrape.status_and_type = result.out.substr(last_line + 1);
  return scrape;
}

// The value of the sample written exactly as `series` (name and labels) on `page`.
std::optional<double> Value(const std::string& page, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return std::nullopt;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    // Under /tmp: a socket path must fit sun_path's 108 bytes, which $TEST_TMPDIR may not.
    char dir[] = "/tmp/vmmd-metrics-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    metrics_socket_ = std::string(dir) + "/metrics.sock";
    auto daemon = DaemonProcess::Start("daemon/vmmd", {kHelloGuest, kSpinGuest, kBlkGuest},
                                       {"--metrics_listen=unix:" + metrics_socket_});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  std::string ScrapePage() {
    const Scrape scrape = Curl("http://localhost/metrics", metrics_socket_);
    EXPECT_EQ(scrape.status_and_type, "200 text/plain; version=0.0.4; charset=utf-8");
    return scrape.page;
  }

  void Run(const std::string& id, const std::string& guest, bool with_drive = false) {
    vmm::v1::RunVmRequest request;
    request.mutable_create()->set_vm_id(id);
    request.mutable_create()->set_vcpu_count(1);
    request.mutable_create()->set_memory_mib(32);
    (*request.mutable_create()->mutable_labels())["app.kubernetes.io/name"] = id;
    if (with_drive) {
      std::ofstream(daemon_->ImagePath("disk.img"), std::ios::binary) << std::string(1 << 20, '\0');
      vmm::v1::Drive* drive = request.mutable_create()->add_drives();
      drive->set_drive_id("disk0");
      drive->set_path(daemon_->ImagePath("disk.img"));
    }
    // The image root holds each guest under its file name.
    request.mutable_boot()->set_kernel_path(daemon_->ImagePath(guest.substr(guest.rfind('/') + 1)));
    request.mutable_boot()->set_cmdline("console=ttyS0");
    request.set_start(true);
    vmm::v1::Vm vm;
    const grpc::Status status = stub_->RunVm(Context().get(), request, &vm);
    ASSERT_TRUE(status.ok()) << id << ": " << status.error_message();
  }

  // Follows the console until the guest stops (they all do but the spinner).
  void WaitForStop(const std::string& id) {
    ::vmmd::testing::ReadConsole(*stub_, id, /*follow=*/true, std::chrono::seconds(60));
  }

  std::string metrics_socket_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(MetricsTest, ScrapedWithCurlCheckedByPromtoolAndShowsEveryVm) {
  Run("spin", kSpinGuest);
  Run("hello", kHelloGuest);
  Run("blk", kBlkGuest, /*with_drive=*/true);
  WaitForStop("hello");
  WaitForStop("blk");

  const std::string page = ScrapePage();
  const CommandResult checked = ::vmmd::testing::PromtoolCheckMetrics(page);
  EXPECT_EQ(checked.exit_status, 0) << checked.err << checked.out;
  EXPECT_EQ(checked.err + checked.out, "") << "promtool's lint";

  // The host's and each VM's state.
  EXPECT_EQ(Value(page, R"(vmmd_vms{state="running"})"), 1) << page;
  EXPECT_EQ(Value(page, R"(vmmd_vms{state="stopped"})"), 2);
  EXPECT_EQ(Value(page, R"(vmmd_vm_info{vm_id="spin",state="running"})"), 1);
  EXPECT_EQ(Value(page, R"(vmmd_vm_info{vm_id="spin",state="stopped"})"), 0);
  EXPECT_EQ(Value(page, R"(vmmd_vm_info{vm_id="hello",state="stopped"})"), 1);
  EXPECT_EQ(Value(page, R"(vmmd_vm_labels{vm_id="spin",label_app_kubernetes_io_name="spin"})"), 1);
  EXPECT_EQ(Value(page, R"(vmmd_vm_memory_bytes{vm_id="spin"})"), 32 << 20);
  EXPECT_EQ(Value(page, R"(vmmd_committed_memory_bytes)"), 3 * (32 << 20));

  // Exits by kind, unhandled accesses and the console.
  EXPECT_GT(Value(page, R"(vmmd_vcpu_exits_total{vm_id="spin",vcpu="0",kind="io_out"})").value_or(0), 0);
  EXPECT_GT(Value(page, R"(vmmd_unhandled_exits_total{vm_id="spin",space="io"})").value_or(0), 0);
  EXPECT_GT(Value(page, R"(vmmd_console_bytes_total{vm_id="hello"})").value_or(0), 0);

  // The blk guest's seven requests, one of them (the read past the end) an error.
  const std::string disk = R"({vm_id="blk",device="disk0",kind="virtio-blk"})";
  EXPECT_EQ(Value(page, "vmmd_device_requests_total" + disk), 7);
  EXPECT_EQ(Value(page, "vmmd_device_errors_total" + disk), 1);
  EXPECT_EQ(Value(page, "vmmd_device_read_bytes_total" + disk).value_or(0) >= 3 * 512, true);
  EXPECT_GT(Value(page, "vmmd_device_notifications_total" + disk).value_or(0), 0);  // it polls: no interrupts

  // The daemon itself, and its RPCs: three RunVm calls, all OK.
  EXPECT_GT(Value(page, "process_resident_memory_bytes").value_or(0), 0);
  EXPECT_GT(Value(page, "process_open_fds").value_or(0), 0);
  EXPECT_GE(Value(page, "process_threads").value_or(0), 4) << "three VMs' workers, the spinner's vCPU";
  const std::string run_vm = R"(grpc_service="vmm.v1.VmmService",grpc_method="RunVm",grpc_type="unary")";
  EXPECT_EQ(Value(page, "grpc_server_handled_total{" + run_vm + R"(,grpc_code="OK"})"), 3);
  EXPECT_EQ(Value(page, "grpc_server_handling_seconds_count{" + run_vm + "}"), 3);
  EXPECT_EQ(Value(page, "grpc_server_handling_seconds_bucket{" + run_vm + R"(,le="+Inf"})"), 3);
}

TEST_F(MetricsTest, CountersMoveAsTheGuestRunsAndDeletedVmsDisappear) {
  Run("spin", kSpinGuest);
  const std::string exits = R"(vmmd_vcpu_exits_total{vm_id="spin",vcpu="0",kind="io_out"})";
  const double before = Value(ScrapePage(), exits).value_or(-1);
  // Scraped until it moves (a loaded machine may not run the spinner for a while), 30 s at most.
  double after = before;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (after <= before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = Value(ScrapePage(), exits).value_or(-1);
  }
  EXPECT_GE(before, 0);
  EXPECT_GT(after, before) << "the spinner's exits between two scrapes";

  // A failed call is counted under its code.
  vmm::v1::GetVmRequest missing;
  missing.set_vm_id("nobody");
  vmm::v1::Vm vm;
  EXPECT_EQ(stub_->GetVm(Context().get(), missing, &vm).error_code(), grpc::StatusCode::NOT_FOUND);

  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id("spin");
  vmm::v1::DeleteVmResponse removed;
  ASSERT_TRUE(stub_->DeleteVm(Context().get(), remove, &removed).ok());
  const std::string page = ScrapePage();
  EXPECT_THAT(page, Not(HasSubstr(R"(vm_id="spin")"))) << "a deleted VM's series";
  EXPECT_EQ(Value(page, R"(vmmd_vms{state="running"})"), 0);
  EXPECT_EQ(Value(page, R"(grpc_server_handled_total{grpc_service="vmm.v1.VmmService",grpc_method="GetVm",grpc_type="unary",grpc_code="NotFound"})"), 1);
}

// A port on loopback that is free now (bound, read, released).
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(MetricsOnTcpTest, ServedOnLoopbackTcpOnlyAtMetricsAndOnlyToGet) {
  const int port = FreeLoopbackPort();
  auto daemon = DaemonProcess::Start("daemon/vmmd", {}, {absl::StrCat("--metrics_listen=tcp:127.0.0.1:", port)});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string base = absl::StrCat("http://127.0.0.1:", port);
  const Scrape scrape = Curl(base + "/metrics");
  EXPECT_EQ(scrape.status_and_type, "200 text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(Value(scrape.page, R"(vmmd_vms{state="running"})"), 0) << scrape.page;
  EXPECT_THAT(scrape.page, HasSubstr(R"(vmmd_build_info{version=")"));
  EXPECT_THAT(Curl(base + "/").status_and_type, HasSubstr("404 "));
  EXPECT_THAT(Curl(base + "/metrics", "", "POST").status_and_type, HasSubstr("405 "));
  EXPECT_THAT((*daemon)->Log(), HasSubstr(absl::StrCat("metrics at http tcp:127.0.0.1:", port)));
}

}  // namespace
}  // namespace vmmd
