// ServiceTest: a daemon in-process for tests of VmmService (the VmManager, the service and a
// real gRPC server on a Unix socket in a temporary directory), with one helper per RPC.
// ServiceWithoutKvmTest runs anywhere; ServiceWithKvmTest needs /dev/kvm (requires-kvm)
// and puts the test guests under the image root.
#ifndef VMMD_DAEMON_SERVICE_TEST_FIXTURE_H_
#define VMMD_DAEMON_SERVICE_TEST_FIXTURE_H_

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/listen_address.h"
#include "daemon/server.h"
#include "daemon/vm_manager.h"
#include "daemon/vmm_service.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd::testing {

using vmm::v1::VmmService;

inline std::string MakeTempDir() {
  std::string pattern = "/tmp/vmmd-service-test-XXXXXX";
  return ::mkdtemp(pattern.data());
}

inline void CopyFile(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary);
  out << in.rdbuf();
  ASSERT_TRUE(in.good() && out.good()) << from;
}

// A daemon in-process: the VmManager, the service and a server on a Unix socket.
class ServiceTest : public ::testing::Test {
 protected:
  void StartDaemon(std::unique_ptr<KvmSystem> kvm) {
    dir_ = MakeTempDir();
    image_root_ = dir_ + "/images";
    console_log_dir_ = dir_ + "/console";
    ::mkdir(image_root_.c_str(), 0755);
    ::mkdir(console_log_dir_.c_str(), 0755);
    VmManagerOptions options;
    options.image_roots = {image_root_};
    options.console_log_dir = console_log_dir_;
    options.max_memory_mib = 1024;
    options.worker_timeout = absl::Seconds(30);
    AdjustOptions(options);
    manager_ = std::make_unique<VmManager>(std::move(kvm), options);
    service_ = std::make_unique<VmmServiceImpl>(manager_.get());
    absl::StatusOr<ListenAddress> address = ParseListenAddress("unix:" + dir_ + "/vmmd.sock");
    ASSERT_TRUE(address.ok());
    absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartServer(*address, service_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = VmmService::NewStub(
        grpc::CreateChannel("unix:" + dir_ + "/vmmd.sock", grpc::InsecureChannelCredentials()));
  }

  // For fixtures that test the daemon's limits.
  virtual void AdjustOptions(VmManagerOptions& options) {}

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    manager_.reset();
    if (!dir_.empty()) {
      [[maybe_unused]] int ignored = ::system(("rm -rf '" + dir_ + "'").c_str());
    }
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return context;
  }

  grpc::Status Create(const std::string& id, uint32_t vcpus, uint64_t memory_mib,
                      vmm::v1::Vm* vm = nullptr) {
    vmm::v1::CreateVmRequest request;
    request.set_vm_id(id);
    request.set_vcpu_count(vcpus);
    request.set_memory_mib(memory_mib);
    vmm::v1::Vm response;
    return stub_->CreateVm(Context().get(), request, vm ? vm : &response);
  }
  grpc::Status CreateVm(const vmm::v1::CreateVmRequest& request, vmm::v1::Vm* vm = nullptr) {
    vmm::v1::Vm response;
    return stub_->CreateVm(Context().get(), request, vm ? vm : &response);
  }
  grpc::Status Configure(const std::string& id, const std::string& kernel,
                         const std::string& cmdline = "console=ttyS0",
                         const std::string& initrd = "", vmm::v1::BootInfo* info = nullptr,
                         const std::string& acpi = "") {
    vmm::v1::ConfigureBootRequest request;
    request.set_vm_id(id);
    request.set_kernel_path(kernel);
    request.set_initrd_path(initrd);
    request.set_cmdline(cmdline);
    request.set_acpi(acpi);
    vmm::v1::BootInfo response;
    return stub_->ConfigureBoot(Context().get(), request, info ? info : &response);
  }
  template <typename Request, typename Call>
  grpc::Status ById(const std::string& id, Call call, vmm::v1::Vm* vm = nullptr) {
    Request request;
    request.set_vm_id(id);
    vmm::v1::Vm response;
    return (stub_.get()->*call)(Context().get(), request, vm ? vm : &response);
  }
  grpc::Status Start(const std::string& id, vmm::v1::Vm* vm = nullptr) {
    return ById<vmm::v1::StartVcpusRequest>(id, &VmmService::Stub::StartVcpus, vm);
  }
  grpc::Status Get(const std::string& id, vmm::v1::Vm* vm = nullptr) {
    return ById<vmm::v1::GetVmRequest>(id, &VmmService::Stub::GetVm, vm);
  }
  grpc::Status Pause(const std::string& id, vmm::v1::Vm* vm = nullptr) {
    return ById<vmm::v1::PauseVmRequest>(id, &VmmService::Stub::PauseVm, vm);
  }
  grpc::Status Resume(const std::string& id, vmm::v1::Vm* vm = nullptr) {
    return ById<vmm::v1::ResumeVmRequest>(id, &VmmService::Stub::ResumeVm, vm);
  }
  grpc::Status Stop(const std::string& id, vmm::v1::Vm* vm = nullptr) {
    return ById<vmm::v1::StopVmRequest>(id, &VmmService::Stub::StopVm, vm);
  }
  grpc::Status Delete(const std::string& id) {
    vmm::v1::DeleteVmRequest request;
    request.set_vm_id(id);
    vmm::v1::DeleteVmResponse response;
    return stub_->DeleteVm(Context().get(), request, &response);
  }
  // StreamConsole to its end; returns the status and fills `text`.
  grpc::Status Console(const std::string& id, bool follow, std::string* text) {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id(id);
    request.set_follow(follow);
    auto context = Context();
    auto reader = stub_->StreamConsole(context.get(), request);
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) *text += chunk.data();
    return reader->Finish();
  }
  grpc::Status Watch(const std::string& id, std::vector<vmm::v1::VmEvent>* events) {
    vmm::v1::WatchVmRequest request;
    request.set_vm_id(id);
    auto context = Context();
    auto reader = stub_->WatchVm(context.get(), request);
    vmm::v1::VmEvent event;
    while (reader->Read(&event)) events->push_back(event);
    return reader->Finish();
  }
  // Polls GetVm until `done` holds (bounded; for states a guest reaches by itself).
  vmm::v1::Vm WaitFor(const std::string& id, const std::function<bool(const vmm::v1::Vm&)>& done) {
    vmm::v1::Vm vm;
    for (int i = 0; i < 3000; ++i) {
      if (!Get(id, &vm).ok() || done(vm)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return vm;
  }

  std::string dir_;
  std::string image_root_;
  std::string console_log_dir_;
  std::unique_ptr<VmManager> manager_;
  std::unique_ptr<VmmServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<VmmService::Stub> stub_;
};

class ServiceWithoutKvmTest : public ServiceTest {
 protected:
  void SetUp() override { StartDaemon(nullptr); }
};

class ServiceWithKvmTest : public ServiceTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    absl::StatusOr<KvmSystem> kvm = KvmSystem::Open();
    ASSERT_TRUE(kvm.ok()) << kvm.status();
    StartDaemon(std::make_unique<KvmSystem>(std::move(*kvm)));
    for (const char* guest :
         {"hello_guest.elf", "idle_guest.elf", "boot_contract_guest.elf", "port_spin_guest.elf"}) {
      CopyFile(std::string("tests/guest/") + guest, image_root_ + "/" + guest);
    }
  }
  std::string Image(const std::string& name) const { return image_root_ + "/" + name; }

  // An idle guest, RUNNING once this returns.
  void StartIdleGuest(const std::string& id) {
    ASSERT_TRUE(Create(id, 2, 64).ok());
    ASSERT_TRUE(Configure(id, Image("idle_guest.elf")).ok());
    vmm::v1::Vm vm;
    ASSERT_TRUE(Start(id, &vm).ok());
    ASSERT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  }
};

}  // namespace vmmd::testing

#endif  // VMMD_DAEMON_SERVICE_TEST_FIXTURE_H_
