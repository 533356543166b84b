// What an orchestrator relies on, through the real vmmd binary (tag: requires-kvm): RunVm
// creates, configures and starts a VM in one call and, failing at a step, leaves no VM, fd or
// thread behind and names the step and the field; CreateVm and RunVm are idempotent for a
// client-chosen vm_id (sixteen clients retrying one request make one VM; a different request
// is ALREADY_EXISTS naming the field); labels are validated, reported and selected on.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;

constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
constexpr char kIdleGuest[] = "tests/guest/idle_guest.elf";

class OrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    auto daemon = DaemonProcess::Start("daemon/vmmd", {kHelloGuest, kIdleGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  vmm::v1::RunVmRequest IdleRun(const std::string& id) {
    vmm::v1::RunVmRequest request;
    request.mutable_create()->set_vm_id(id);
    request.mutable_create()->set_vcpu_count(1);
    request.mutable_create()->set_memory_mib(32);
    (*request.mutable_create()->mutable_labels())["app"] = "idle";
    request.mutable_boot()->set_kernel_path(daemon_->ImagePath("idle_guest.elf"));
    request.set_start(true);
    return request;
  }

  grpc::Status Run(const vmm::v1::RunVmRequest& request, vmm::v1::Vm* vm = nullptr) {
    vmm::v1::Vm response;
    return stub_->RunVm(Context().get(), request, vm ? vm : &response);
  }

  std::vector<std::string> List(const std::string& selector) {
    vmm::v1::ListVmsRequest request;
    request.set_label_selector(selector);
    vmm::v1::ListVmsResponse response;
    EXPECT_TRUE(stub_->ListVms(Context().get(), request, &response).ok());
    std::vector<std::string> ids;
    for (const vmm::v1::Vm& vm : response.vms()) ids.push_back(vm.vm_id());
    return ids;
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(OrchestratorTest, RunVmCreatesConfiguresAndStartsInOneCall) {
  vmm::v1::Vm vm;
  ASSERT_TRUE(Run(IdleRun("one"), &vm).ok());
  EXPECT_EQ(vm.vm_id(), "one");
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(vm.boot_info().entry_point(), 0x100000u) << "configured";
  EXPECT_EQ(vm.labels().at("app"), "idle");
  EXPECT_EQ(daemon_->VmThreadCount(), 2) << "a worker and a vCPU: " << daemon_->ThreadNames();

  // Without start it stops at CONFIGURED.
  vmm::v1::RunVmRequest request = IdleRun("two");
  request.set_start(false);
  ASSERT_TRUE(Run(request, &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_CONFIGURED);
}

TEST_F(OrchestratorTest, RunVmFailingAtAStepLeavesNothingBehind) {
  ASSERT_TRUE(Run(IdleRun("warm-up")).ok());  // gRPC's and the daemon's threads as they settle
  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id("warm-up");
  vmm::v1::DeleteVmResponse removed;
  ASSERT_TRUE(stub_->DeleteVm(Context().get(), remove, &removed).ok());
  const int fds = daemon_->OpenFdCount();

  struct Case {
    const char* name;
    vmm::v1::RunVmRequest request;
    grpc::StatusCode code;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"create", IdleRun("bad"), grpc::StatusCode::INVALID_ARGUMENT, "create: vcpu_count"});
  cases.back().request.mutable_create()->set_vcpu_count(0);
  cases.push_back({"label", IdleRun("bad"), grpc::StatusCode::INVALID_ARGUMENT,
                   "create: labels[\"no spaces\"]: key holds ' '"});
  (*cases.back().request.mutable_create()->mutable_labels())["no spaces"] = "x";
  cases.push_back({"boot", IdleRun("bad"), grpc::StatusCode::NOT_FOUND, "boot: kernel_path"});
  cases.back().request.mutable_boot()->set_kernel_path(daemon_->ImagePath("missing.elf"));
  cases.push_back({"boot acpi", IdleRun("bad"), grpc::StatusCode::INVALID_ARGUMENT,
                   "boot: acpi \"maybe\" is not one of on, off"});
  cases.back().request.mutable_boot()->set_acpi("maybe");
  cases.push_back({"boot vm_id", IdleRun("bad"), grpc::StatusCode::INVALID_ARGUMENT,
                   "boot.vm_id \"other\" differs from create.vm_id"});
  cases.back().request.mutable_boot()->set_vm_id("other");
  for (const Case& c : cases) {
    const grpc::Status status = Run(c.request);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.name;
    EXPECT_TRUE(List("").empty()) << c.name << ": a VM was left behind";
    // The same id is free again: the failed attempt was forgotten.
    ASSERT_TRUE(Run(IdleRun("bad")).ok()) << c.name;
    remove.set_vm_id("bad");
    ASSERT_TRUE(stub_->DeleteVm(Context().get(), remove, &removed).ok());
  }
  EXPECT_EQ(daemon_->VmThreadCount(), 0) << daemon_->ThreadNames();
  EXPECT_EQ(daemon_->OpenFdCount(), fds) << daemon_->OpenFdTargets();
}

TEST_F(OrchestratorTest, SixteenClientsRetryingOneRequestMakeOneVm) {
  std::atomic<int> ok{0};
  std::vector<std::string> failures(16);
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      auto stub = vmm::v1::VmmService::NewStub(daemon_->Connect());
      vmm::v1::Vm vm;
      const grpc::Status status = stub->RunVm(Context().get(), IdleRun("shared"), &vm);
      if (status.ok() && vm.vm_id() == "shared") {
        ++ok;
      } else {
        failures[i] = status.error_message();
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(ok, 16) << ::testing::PrintToString(failures);
  EXPECT_THAT(List(""), UnorderedElementsAre("shared"));
  EXPECT_EQ(daemon_->VmThreadCount(), 2) << "one VM's worker and vCPU: " << daemon_->ThreadNames();

  // A different request for the id names the first field that differs.
  vmm::v1::RunVmRequest other = IdleRun("shared");
  other.mutable_create()->set_memory_mib(64);
  const grpc::Status status = Run(other);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("create.memory_mib differs"));
  // And CreateVm for it names the RPC that made it.
  vmm::v1::Vm vm;
  const grpc::Status create = stub_->CreateVm(Context().get(), IdleRun("shared").create(), &vm);
  EXPECT_EQ(create.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(create.error_message(), HasSubstr("made by RunVm, not CreateVm"));
}

TEST_F(OrchestratorTest, CreateVmRetriedGetsTheSameVm) {
  vmm::v1::CreateVmRequest request = IdleRun("c").create();
  vmm::v1::Vm first, second;
  ASSERT_TRUE(stub_->CreateVm(Context().get(), request, &first).ok());
  ASSERT_TRUE(stub_->CreateVm(Context().get(), request, &second).ok());
  EXPECT_EQ(second.vm_id(), "c");
  EXPECT_EQ(second.state(), vmm::v1::VM_STATE_CREATED);
  (*request.mutable_labels())["app"] = "other";
  const grpc::Status status = stub_->CreateVm(Context().get(), request, &second);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("labels[\"app\"] differs"));
}

TEST_F(OrchestratorTest, ListVmsSelectsByLabels) {
  auto labelled = [&](const std::string& id, const std::string& app, const std::string& tier) {
    vmm::v1::RunVmRequest request = IdleRun(id);
    (*request.mutable_create()->mutable_labels())["app"] = app;
    if (!tier.empty()) (*request.mutable_create()->mutable_labels())["example.com/tier"] = tier;
    request.set_start(false);
    ASSERT_TRUE(Run(request).ok()) << id;
  };
  labelled("web-1", "web", "front");
  labelled("web-2", "web", "back");
  labelled("db-1", "db", "");
  EXPECT_THAT(List(""), UnorderedElementsAre("web-1", "web-2", "db-1"));
  EXPECT_THAT(List("app=web"), UnorderedElementsAre("web-1", "web-2"));
  EXPECT_THAT(List("app==web,example.com/tier!=back"), UnorderedElementsAre("web-1"));
  EXPECT_THAT(List("example.com/tier!=front"), UnorderedElementsAre("web-2", "db-1"));
  EXPECT_TRUE(List("app=cache").empty());
  vmm::v1::ListVmsRequest bad;
  bad.set_label_selector("app");
  vmm::v1::ListVmsResponse response;
  const grpc::Status status = stub_->ListVms(Context().get(), bad, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("label_selector: requirement \"app\""));
}

// A controller's view: the VMs that exist, then each creation, state change and deletion of
// the VMs its selector matches, from a stream that does not end on its own.
TEST_F(OrchestratorTest, WatchVmsFollowsEveryMatchingVm) {
  vmm::v1::RunVmRequest before = IdleRun("before");
  before.set_start(false);
  ASSERT_TRUE(Run(before).ok());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  vmm::v1::WatchVmsRequest watch;
  watch.set_label_selector("app=idle");
  std::unique_ptr<grpc::ClientReader<vmm::v1::VmEvent>> reader = stub_->WatchVms(&context, watch);
  std::vector<std::string> seen;  // "vm_id STATE reason[ deleted]"
  vmm::v1::VmEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.vm_id(), "before");
  EXPECT_EQ(event.reason(), "existing");
  EXPECT_EQ(event.state(), vmm::v1::VM_STATE_CONFIGURED);
  EXPECT_EQ(event.labels().at("app"), "idle");

  vmm::v1::RunVmRequest other = IdleRun("other");
  (*other.mutable_create()->mutable_labels())["app"] = "web";  // not selected
  ASSERT_TRUE(Run(other).ok());
  ASSERT_TRUE(Run(IdleRun("watched")).ok());
  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id("watched");
  vmm::v1::DeleteVmResponse removed;
  ASSERT_TRUE(stub_->DeleteVm(Context().get(), remove, &removed).ok());

  uint64_t last_sequence = 0;
  while (reader->Read(&event)) {
    seen.push_back(event.vm_id() + " " + vmm::v1::VmState_Name(event.state()) + " " + event.reason() +
                   (event.deleted() ? " deleted" : ""));
    EXPECT_GT(event.sequence() + 1, last_sequence) << "host sequence numbers only grow";
    last_sequence = event.sequence() + 1;
    if (event.deleted()) break;
  }
  context.TryCancel();
  reader->Finish();
  EXPECT_THAT(seen, ::testing::ElementsAre("watched VM_STATE_CREATED created",
                                           "watched VM_STATE_CONFIGURED configured",
                                           "watched VM_STATE_RUNNING started",
                                           "watched VM_STATE_STOPPED deleted",
                                           "watched VM_STATE_STOPPED deleted deleted"));

  vmm::v1::WatchVmsRequest bad;
  bad.set_label_selector("app=");
  bad.set_label_selector("=x");
  grpc::ClientContext bad_context;
  vmm::v1::VmEvent ignored;
  auto refused = stub_->WatchVms(&bad_context, bad);
  EXPECT_FALSE(refused->Read(&ignored));
  const grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("label_selector"));
}

}  // namespace
}  // namespace vmmd
