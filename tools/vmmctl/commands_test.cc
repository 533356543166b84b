// The commands against a fake VmmService served in-process: what each prints, which calls
// `run` makes in which order, and how it cleans up after a failure or a signal.
#include "tools/vmmctl/commands.h"

#include <signal.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tools/vmmctl/interruption.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Keeps VMs in a map; records each call's name. Tests set the knobs before calling.
class FakeVmmService final : public vmm::v1::VmmService::Service {
 public:
  // Knobs.
  grpc::Status create_status = grpc::Status::OK;
  grpc::Status boot_status = grpc::Status::OK;
  std::vector<std::pair<uint64_t, std::string>> console;  // (offset, data) chunks
  bool console_blocks_until_cancelled = false;
  std::string exit_reason = "guest reset";
  std::vector<vmm::v1::VmEvent> events;
  absl::Notification console_started;

  std::vector<std::string> calls() {
    absl::MutexLock lock(&mutex_);
    return calls_;
  }
  vmm::v1::CreateVmRequest last_create() {
    absl::MutexLock lock(&mutex_);
    return last_create_;
  }
  vmm::v1::ConfigureBootRequest last_boot() {
    absl::MutexLock lock(&mutex_);
    return last_boot_;
  }
  bool exists(const std::string& id) {
    absl::MutexLock lock(&mutex_);
    return vms_.count(id) != 0;
  }
  void AddVm(const std::string& id, vmm::v1::VmState state) {
    absl::MutexLock lock(&mutex_);
    vms_[id].set_vm_id(id);
    vms_[id].set_state(state);
  }

  vmm::v1::SnapshotVmRequest last_snapshot() {
    absl::MutexLock lock(&mutex_);
    return last_snapshot_;
  }
  vmm::v1::RestoreVmRequest last_restore() {
    absl::MutexLock lock(&mutex_);
    return last_restore_;
  }

  grpc::Status SnapshotVm(grpc::ServerContext*, const vmm::v1::SnapshotVmRequest* request,
                          vmm::v1::SnapshotInfo* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("SnapshotVm");
    last_snapshot_ = *request;
    response->set_vm_id(request->vm_id());
    response->set_snapshot_dir(request->snapshot_dir());
    response->set_duration_micros(12345);
    vmm::v1::SnapshotFile* state = response->add_files();
    state->set_path(request->snapshot_dir() + "/state");
    state->set_size_bytes(20480);
    state->set_allocated_bytes(20480);
    vmm::v1::SnapshotFile* memory = response->add_files();
    memory->set_path(request->snapshot_dir() + "/memory");
    memory->set_size_bytes(134217728);
    memory->set_allocated_bytes(4096000);
    return grpc::Status::OK;
  }

  grpc::Status RestoreVm(grpc::ServerContext*, const vmm::v1::RestoreVmRequest* request,
                         vmm::v1::Vm* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("RestoreVm");
    last_restore_ = *request;
    const std::string id = request->vm_id().empty() ? "vm-9" : request->vm_id();
    vms_[id].set_vm_id(id);
    vms_[id].set_state(request->resume() ? vmm::v1::VM_STATE_RUNNING : vmm::v1::VM_STATE_PAUSED);
    *response = vms_[id];
    return grpc::Status::OK;
  }

  grpc::Status CreateVm(grpc::ServerContext*, const vmm::v1::CreateVmRequest* request,
                        vmm::v1::Vm* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("CreateVm");
    return CreateLocked(*request, response);
  }

  grpc::Status ConfigureBoot(grpc::ServerContext*, const vmm::v1::ConfigureBootRequest* request,
                             vmm::v1::BootInfo* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("ConfigureBoot");
    return ConfigureLocked(*request, response);
  }

  // As vmmd: create, configure and start, and on a failed step nothing left behind.
  grpc::Status RunVm(grpc::ServerContext*, const vmm::v1::RunVmRequest* request,
                     vmm::v1::Vm* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back(request->start() ? "RunVm(start)" : "RunVm");
    grpc::Status status = CreateLocked(request->create(), response);
    if (!status.ok()) return grpc::Status(status.error_code(), "create: " + status.error_message());
    vmm::v1::ConfigureBootRequest boot = request->boot();
    boot.set_vm_id(response->vm_id());
    vmm::v1::BootInfo info;
    status = ConfigureLocked(boot, &info);
    if (!status.ok()) {
      vms_.erase(response->vm_id());
      return grpc::Status(status.error_code(), "boot: " + status.error_message());
    }
    vmm::v1::Vm& vm = vms_[response->vm_id()];
    if (request->start()) vm.set_state(vmm::v1::VM_STATE_RUNNING);
    *response = vm;
    return grpc::Status::OK;
  }

  grpc::Status StartVcpus(grpc::ServerContext*, const vmm::v1::StartVcpusRequest* request,
                          vmm::v1::Vm* response) override {
    return SetState("StartVcpus", request->vm_id(), vmm::v1::VM_STATE_RUNNING, "", response);
  }
  grpc::Status StopVm(grpc::ServerContext*, const vmm::v1::StopVmRequest* request,
                      vmm::v1::Vm* response) override {
    return SetState("StopVm", request->vm_id(), vmm::v1::VM_STATE_STOPPED, "stopped by request",
                    response);
  }
  grpc::Status PauseVm(grpc::ServerContext*, const vmm::v1::PauseVmRequest* request,
                       vmm::v1::Vm* response) override {
    return SetState("PauseVm", request->vm_id(), vmm::v1::VM_STATE_PAUSED, "", response);
  }

  grpc::Status GetVm(grpc::ServerContext*, const vmm::v1::GetVmRequest* request,
                     vmm::v1::Vm* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("GetVm");
    vmm::v1::Vm* vm = FindLocked(request->vm_id());
    if (vm == nullptr) return NoVm(request->vm_id());
    *response = *vm;
    return grpc::Status::OK;
  }

  grpc::Status ListVms(grpc::ServerContext*, const vmm::v1::ListVmsRequest* request,
                       vmm::v1::ListVmsResponse* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back(request->label_selector().empty() ? "ListVms"
                                                        : "ListVms(" + request->label_selector() + ")");
    for (const auto& [id, vm] : vms_) *response->add_vms() = vm;
    return grpc::Status::OK;
  }

  grpc::Status DeleteVm(grpc::ServerContext*, const vmm::v1::DeleteVmRequest* request,
                        vmm::v1::DeleteVmResponse* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("DeleteVm");
    if (vms_.erase(request->vm_id()) == 0) return NoVm(request->vm_id());
    response->set_vm_id(request->vm_id());
    return grpc::Status::OK;
  }

  // Sends `console`; then, when following, blocks until cancelled if asked to, or else
  // stops the VM (as a guest that reset would) and ends the stream.
  grpc::Status StreamConsole(grpc::ServerContext* context,
                             const vmm::v1::StreamConsoleRequest* request,
                             grpc::ServerWriter<vmm::v1::ConsoleChunk>* writer) override {
    {
      absl::MutexLock lock(&mutex_);
      calls_.push_back(request->follow() ? "StreamConsole(follow)" : "StreamConsole");
      if (FindLocked(request->vm_id()) == nullptr) return NoVm(request->vm_id());
    }
    for (const auto& [offset, data] : console) {
      vmm::v1::ConsoleChunk chunk;
      chunk.set_offset(offset);
      chunk.set_data(data);
      writer->Write(chunk);
    }
    console_started.Notify();
    if (!request->follow()) return grpc::Status::OK;
    if (console_blocks_until_cancelled) {
      while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(1));
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    absl::MutexLock lock(&mutex_);
    vmm::v1::Vm* vm = FindLocked(request->vm_id());
    if (vm != nullptr) {
      vm->set_state(vmm::v1::VM_STATE_STOPPED);
      vm->set_exit_reason(exit_reason);
    }
    return grpc::Status::OK;
  }

  grpc::Status WatchVm(grpc::ServerContext*, const vmm::v1::WatchVmRequest* request,
                       grpc::ServerWriter<vmm::v1::VmEvent>* writer) override {
    {
      absl::MutexLock lock(&mutex_);
      calls_.push_back("WatchVm");
      if (FindLocked(request->vm_id()) == nullptr) return NoVm(request->vm_id());
    }
    for (const vmm::v1::VmEvent& event : events) writer->Write(event);
    return grpc::Status::OK;
  }

  grpc::Status GetHostInfo(grpc::ServerContext*, const vmm::v1::GetHostInfoRequest*,
                           vmm::v1::HostInfo* response) override {
    absl::MutexLock lock(&mutex_);
    calls_.push_back("GetHostInfo");
    response->set_vmmd_version("0.15.0");
    response->set_kvm_api_version(12);
    (*response->mutable_kvm_capabilities())["KVM_CAP_IRQFD"] = 1;
    (*response->mutable_kvm_capabilities())["KVM_CAP_IRQCHIP"] = 1;
    response->add_guest_cpu_features("sse2");
    response->add_guest_cpu_features("lm");
    response->set_max_vcpus(254);
    response->set_vm_count(static_cast<uint32_t>(vms_.size()));
    return grpc::Status::OK;
  }

  grpc::Status WatchVms(grpc::ServerContext*, const vmm::v1::WatchVmsRequest* request,
                        grpc::ServerWriter<vmm::v1::VmEvent>* writer) override {
    {
      absl::MutexLock lock(&mutex_);
      calls_.push_back("WatchVms(" + request->label_selector() + ")");
    }
    for (const vmm::v1::VmEvent& event : events) writer->Write(event);
    return grpc::Status::OK;
  }

 private:
  static grpc::Status NoVm(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no VM " + id);
  }

  vmm::v1::Vm* FindLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    auto it = vms_.find(id);
    return it == vms_.end() ? nullptr : &it->second;
  }

  grpc::Status SetState(const char* rpc, const std::string& id, vmm::v1::VmState state,
                        const std::string& reason, vmm::v1::Vm* response) {
    absl::MutexLock lock(&mutex_);
    calls_.push_back(rpc);
    vmm::v1::Vm* vm = FindLocked(id);
    if (vm == nullptr) return NoVm(id);
    vm->set_state(state);
    vm->set_exit_reason(reason);
    *response = *vm;
    return grpc::Status::OK;
  }

  absl::Mutex mutex_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, vmm::v1::Vm> vms_ ABSL_GUARDED_BY(mutex_);
  grpc::Status CreateLocked(const vmm::v1::CreateVmRequest& request, vmm::v1::Vm* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    last_create_ = request;
    if (!create_status.ok()) return create_status;
    const std::string id = request.vm_id().empty() ? "vm-1" : request.vm_id();
    vmm::v1::Vm& vm = vms_[id];
    vm.set_vm_id(id);
    vm.set_state(vmm::v1::VM_STATE_CREATED);
    vm.set_vcpu_count(request.vcpu_count());
    vm.set_memory_mib(request.memory_mib());
    *vm.mutable_drives() = request.drives();
    vm.set_entropy_device(request.entropy_device());
    *vm.mutable_labels() = request.labels();
    *response = vm;
    return grpc::Status::OK;
  }

  grpc::Status ConfigureLocked(const vmm::v1::ConfigureBootRequest& request, vmm::v1::BootInfo* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    last_boot_ = request;
    if (!boot_status.ok()) return boot_status;
    vmm::v1::Vm* vm = FindLocked(request.vm_id());
    if (vm == nullptr) return NoVm(request.vm_id());
    response->set_entry_point(0x100000);
    response->set_kernel_path(request.kernel_path());
    // One virtio-mmio window per drive, as vmmd allocates them.
    for (int i = 0; i < vm->drives_size(); ++i) {
      vmm::v1::DeviceInfo* device = response->add_devices();
      device->set_id(vm->drives(i).drive_id());
      device->set_kind("virtio-blk");
      device->set_mmio_address(0xd0000000 + 0x1000 * i);
      device->set_mmio_size(0x1000);
      device->set_irq(5 + i);
    }
    vmm::v1::E820Entry* entry = response->add_e820();
    entry->set_size(0x9fc00);
    entry->set_type(1);
    vm->set_state(vmm::v1::VM_STATE_CONFIGURED);
    *vm->mutable_boot_info() = *response;
    return grpc::Status::OK;
  }

  vmm::v1::CreateVmRequest last_create_ ABSL_GUARDED_BY(mutex_);
  vmm::v1::SnapshotVmRequest last_snapshot_ ABSL_GUARDED_BY(mutex_);
  vmm::v1::RestoreVmRequest last_restore_ ABSL_GUARDED_BY(mutex_);
  vmm::v1::ConfigureBootRequest last_boot_ ABSL_GUARDED_BY(mutex_);
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = vmm::v1::VmmService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { server_->Shutdown(); }

  int Execute(Invocation invocation, bool json = false, Interruption* interruption = nullptr) {
    CommandContext context;
    context.stub = stub_.get();
    context.out = &out_;
    context.err = &err_;
    context.json = json;
    context.timeout = absl::Seconds(10);
    context.interruption = interruption;
    return ExecuteCommand(invocation, context);
  }

  static Invocation Make(Command command, std::string vm_id = "") {
    Invocation invocation;
    invocation.command = command;
    invocation.vm_id = std::move(vm_id);
    return invocation;
  }

  static Invocation RunInvocation() {
    Invocation invocation = Make(Command::kRun);
    invocation.kernel_path = "/images/hello.elf";
    invocation.cmdline = "console=ttyS0";
    invocation.vcpu_count = 2;
    return invocation;
  }

  FakeVmmService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CommandsTest, CreatePrintsOnlyTheId) {
  Invocation invocation = Make(Command::kCreate);
  invocation.vcpu_count = 4;
  invocation.memory_mib = 256;
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(out_.str(), "vm-1\n");
  EXPECT_EQ(err_.str(), "");
  EXPECT_EQ(service_.last_create().vcpu_count(), 4u);
  EXPECT_EQ(service_.last_create().memory_mib(), 256u);
}

TEST_F(CommandsTest, CreateSendsDrivesInOrderAndEntropy) {
  Invocation invocation = Make(Command::kCreate);
  invocation.drives = {{"drive0", "/a.img", /*read_only=*/true, /*is_root_device=*/true},
                       {"drive1", "/home/me/b.img", false, false}};
  invocation.entropy_device = true;
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(out_.str(), "vm-1\n");
  const vmm::v1::CreateVmRequest request = service_.last_create();
  ASSERT_EQ(request.drives_size(), 2);
  EXPECT_EQ(request.drives(0).drive_id(), "drive0");
  EXPECT_EQ(request.drives(0).path(), "/a.img");
  EXPECT_TRUE(request.drives(0).read_only());
  EXPECT_TRUE(request.drives(0).is_root_device());
  EXPECT_EQ(request.drives(1).drive_id(), "drive1");
  EXPECT_EQ(request.drives(1).path(), "/home/me/b.img");
  EXPECT_FALSE(request.drives(1).read_only());
  EXPECT_FALSE(request.drives(1).is_root_device());
  EXPECT_TRUE(request.entropy_device());
}

TEST_F(CommandsTest, CreateSendsNetworkInterfacesInOrder) {
  Invocation invocation = Make(Command::kCreate);
  invocation.network_interfaces = {{"eth0", "tap0", ""}, {"eth1", "tap1", "02:00:00:00:00:01"}};
  EXPECT_EQ(Execute(invocation), 0);
  const vmm::v1::CreateVmRequest request = service_.last_create();
  ASSERT_EQ(request.network_interfaces_size(), 2);
  EXPECT_EQ(request.network_interfaces(0).iface_id(), "eth0");
  EXPECT_EQ(request.network_interfaces(0).host_dev_name(), "tap0");
  EXPECT_EQ(request.network_interfaces(0).guest_mac(), "");
  EXPECT_EQ(request.network_interfaces(1).iface_id(), "eth1");
  EXPECT_EQ(request.network_interfaces(1).guest_mac(), "02:00:00:00:00:01");
}

TEST_F(CommandsTest, CreateSendsVsock) {
  Invocation invocation = Make(Command::kCreate);
  invocation.has_vsock = true;
  invocation.vsock_cid = 42;
  invocation.vsock_uds_path = "/run/vmmd/vsock/a.sock";
  EXPECT_EQ(Execute(invocation), 0);
  const vmm::v1::CreateVmRequest request = service_.last_create();
  ASSERT_TRUE(request.has_vsock());
  EXPECT_EQ(request.vsock().guest_cid(), 42u);
  EXPECT_EQ(request.vsock().uds_path(), "/run/vmmd/vsock/a.sock");
  EXPECT_FALSE(service_.last_create().network_interfaces_size() > 0);
}

TEST_F(CommandsTest, CreateWithoutDrivesSendsNone) {
  EXPECT_EQ(Execute(Make(Command::kCreate)), 0);
  EXPECT_EQ(service_.last_create().drives_size(), 0);
  EXPECT_FALSE(service_.last_create().entropy_device());
}

TEST_F(CommandsTest, CreateJsonShowsTheDrives) {
  Invocation invocation = Make(Command::kCreate, "web");
  invocation.drives = {{"drive0", "/a.img", true, false}};
  invocation.entropy_device = true;
  EXPECT_EQ(Execute(invocation, /*json=*/true), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\"drives\":[{\"drive_id\":\"drive0\",\"path\":\"/a.img\","
                                    "\"read_only\":true,\"is_root_device\":false}]"));
  EXPECT_THAT(out_.str(), HasSubstr("\"entropy_device\":true"));
}

TEST_F(CommandsTest, BootAndGetShowTheDevices) {
  Invocation create = Make(Command::kCreate, "a");
  create.drives = {{"drive0", "/a.img", false, true}, {"drive1", "/b.img", true, false}};
  ASSERT_EQ(Execute(create), 0);
  Invocation boot = Make(Command::kBoot, "a");
  boot.kernel_path = "/images/vmlinux";
  ASSERT_EQ(Execute(boot), 0);
  EXPECT_THAT(out_.str(),
              HasSubstr("devices          drive0  virtio-blk  mmio 0xd0000000 (4096 bytes)  irq 5\n"
                        "                 drive1  virtio-blk  mmio 0xd0001000 (4096 bytes)  irq 6\n"));
  out_.str("");
  EXPECT_EQ(Execute(Make(Command::kGet, "a")), 0);
  EXPECT_THAT(out_.str(), HasSubstr("drives           drive0  /a.img  rw, root\n"
                                    "                 drive1  /b.img  ro\n"));
  EXPECT_THAT(out_.str(), HasSubstr("devices          drive0  virtio-blk  mmio 0xd0000000  irq 5\n"));
}

TEST_F(CommandsTest, CreateJson) {
  Invocation invocation = Make(Command::kCreate, "web");
  EXPECT_EQ(Execute(invocation, /*json=*/true), 0);
  EXPECT_THAT(out_.str(), HasSubstr("{\"vm_id\":\"web\",\"state\":\"VM_STATE_CREATED\""));
  EXPECT_EQ(out_.str().back(), '\n');
}

TEST_F(CommandsTest, ErrorNamesRpcAndCode) {
  EXPECT_EQ(Execute(Make(Command::kGet, "nope")), 1);
  EXPECT_EQ(err_.str(), "vmmctl: GetVm: NOT_FOUND: no VM nope\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, GetPrintsTheTable) {
  service_.AddVm("a", vmm::v1::VM_STATE_PAUSED);
  EXPECT_EQ(Execute(Make(Command::kGet, "a")), 0);
  EXPECT_THAT(out_.str(), HasSubstr("id              a\nstate           paused\n"));
}

TEST_F(CommandsTest, ListHasHeaderAndRows) {
  service_.AddVm("a", vmm::v1::VM_STATE_CREATED);
  service_.AddVm("b", vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(Execute(Make(Command::kList)), 0);
  EXPECT_THAT(out_.str(), HasSubstr("ID  STATE"));
  EXPECT_THAT(out_.str(), HasSubstr("\na   created"));
  EXPECT_THAT(out_.str(), HasSubstr("\nb   running"));
}

TEST_F(CommandsTest, ListJsonIsTheResponse) {
  service_.AddVm("a", vmm::v1::VM_STATE_CREATED);
  EXPECT_EQ(Execute(Make(Command::kList), /*json=*/true), 0);
  EXPECT_THAT(out_.str(), HasSubstr("{\"vms\":[{\"vm_id\":\"a\""));
}

TEST_F(CommandsTest, BootSendsPathsAndPrintsBootInfo) {
  service_.AddVm("a", vmm::v1::VM_STATE_CREATED);
  Invocation invocation = Make(Command::kBoot, "a");
  invocation.kernel_path = "/images/vmlinux";
  invocation.initrd_path = "/images/initrd";
  invocation.cmdline = "quiet";
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(service_.last_boot().kernel_path(), "/images/vmlinux");
  EXPECT_EQ(service_.last_boot().initrd_path(), "/images/initrd");
  EXPECT_EQ(service_.last_boot().cmdline(), "quiet");
  EXPECT_THAT(out_.str(), HasSubstr("entry point      0x100000\n"));
  EXPECT_THAT(out_.str(), HasSubstr("e820             [mem 0x0000000000000000-0x000000000009fbff] usable\n"));
}

TEST_F(CommandsTest, StateChangesPrintOneLine) {
  service_.AddVm("a", vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(Execute(Make(Command::kPause, "a")), 0);
  EXPECT_EQ(Execute(Make(Command::kStop, "a")), 0);
  EXPECT_EQ(out_.str(), "a: paused\na: stopped (stopped by request)\n");
  EXPECT_EQ(Execute(Make(Command::kResume, "a")), 1);  // the fake has no ResumeVm
  EXPECT_THAT(err_.str(), HasSubstr("vmmctl: ResumeVm: UNIMPLEMENTED: "));
}

TEST_F(CommandsTest, DeletePrintsTheId) {
  service_.AddVm("a", vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(Execute(Make(Command::kDelete, "a")), 0);
  EXPECT_EQ(out_.str(), "a: deleted\n");
  EXPECT_FALSE(service_.exists("a"));
}

TEST_F(CommandsTest, ConsoleIsRawAndReportsLostBytes) {
  service_.AddVm("a", vmm::v1::VM_STATE_RUNNING);
  service_.console = {{0, "hel"}, {10, std::string("lo\0\n", 4)}};
  EXPECT_EQ(Execute(Make(Command::kConsole, "a"), /*json=*/true), 0);
  EXPECT_EQ(out_.str(), std::string("hello\0\n", 7));
  EXPECT_EQ(err_.str(),
            "vmmctl: console of a: 7 bytes lost before offset 10 (vmmd's console buffer overflowed)\n");
  EXPECT_THAT(service_.calls(), ElementsAre("StreamConsole"));
}

TEST_F(CommandsTest, WatchPrintsOneLinePerEvent) {
  service_.AddVm("a", vmm::v1::VM_STATE_RUNNING);
  for (int i = 0; i < 2; ++i) {
    vmm::v1::VmEvent event;
    event.set_vm_id("a");
    event.set_sequence(i);
    event.set_state(i == 0 ? vmm::v1::VM_STATE_CREATED : vmm::v1::VM_STATE_RUNNING);
    event.set_reason(i == 0 ? "created" : "started");
    service_.events.push_back(event);
  }
  EXPECT_EQ(Execute(Make(Command::kWatch, "a")), 0);
  EXPECT_EQ(out_.str(),
            "1970-01-01T00:00:00.000000Z  a  #0  created  created\n"
            "1970-01-01T00:00:00.000000Z  a  #1  running  started\n");
  out_.str("");
  EXPECT_EQ(Execute(Make(Command::kWatch, "a"), /*json=*/true), 0);
  EXPECT_EQ(out_.str(),
            "{\"vm_id\":\"a\",\"state\":\"VM_STATE_CREATED\",\"reason\":\"created\","
            "\"timestamp_unix_nanos\":\"0\",\"sequence\":\"0\",\"deleted\":false,\"labels\":{}}\n"
            "{\"vm_id\":\"a\",\"state\":\"VM_STATE_RUNNING\",\"reason\":\"started\","
            "\"timestamp_unix_nanos\":\"0\",\"sequence\":\"1\",\"deleted\":false,\"labels\":{}}\n");
}

TEST_F(CommandsTest, HostShowsWhatTheHostOffers) {
  EXPECT_EQ(Execute(Make(Command::kHost)), 0);
  EXPECT_THAT(out_.str(), HasSubstr("kvm api             12\n"));
  EXPECT_THAT(out_.str(), HasSubstr("guest cpu features  sse2 lm\n"));
  EXPECT_THAT(out_.str(), HasSubstr("kvm capabilities    KVM_CAP_IRQCHIP 1\n"
                                    "                    KVM_CAP_IRQFD 1\n"));
  EXPECT_THAT(service_.calls(), ElementsAre("GetHostInfo"));
}

TEST_F(CommandsTest, WatchAllPrintsEveryVmsEventsAndDeletions) {
  vmm::v1::VmEvent event;
  event.set_vm_id("a");
  event.set_sequence(7);
  event.set_state(vmm::v1::VM_STATE_STOPPED);
  event.set_reason("deleted");
  event.set_deleted(true);
  service_.events.push_back(event);
  Invocation invocation = Make(Command::kWatchAll);
  invocation.label_selector = "app=web";
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(out_.str(), "1970-01-01T00:00:00.000000Z  a  #7  stopped  deleted  (deleted)\n");
  EXPECT_THAT(service_.calls(), ElementsAre("WatchVms(app=web)"));
}

TEST_F(CommandsTest, ListSendsTheSelectorAndRunSendsLabels) {
  Invocation list = Make(Command::kList);
  list.label_selector = "app=web,tier!=db";
  EXPECT_EQ(Execute(list), 0);
  Invocation run = RunInvocation();
  run.labels = {{"app", "web"}};
  EXPECT_EQ(Execute(run), 0);
  EXPECT_THAT(service_.calls(), testing::Contains("ListVms(app=web,tier!=db)"));
  EXPECT_EQ(service_.last_create().labels().at("app"), "web");
}

TEST_F(CommandsTest, RunStreamsConsoleReportsExitAndDeletes) {
  service_.console = {{0, "Hello from the guest\n"}};
  service_.exit_reason = "guest reset";
  EXPECT_EQ(Execute(RunInvocation()), 0);
  EXPECT_EQ(out_.str(), "Hello from the guest\n");
  EXPECT_EQ(err_.str(), "vmmctl: vm vm-1 stopped: guest reset\n");
  EXPECT_THAT(service_.calls(), ElementsAre("RunVm(start)", "StreamConsole(follow)", "GetVm", "DeleteVm"));
  EXPECT_EQ(service_.last_create().vcpu_count(), 2u);
  EXPECT_EQ(service_.last_create().drives_size(), 0);
  EXPECT_EQ(service_.last_boot().kernel_path(), "/images/hello.elf");
  EXPECT_EQ(service_.last_boot().cmdline(), "console=ttyS0");
  EXPECT_FALSE(service_.exists("vm-1"));
}

TEST_F(CommandsTest, RunSendsDrivesAndEntropy) {
  Invocation invocation = RunInvocation();
  invocation.drives = {{"drive0", "/images/rootfs.ext4", /*read_only=*/false,
                        /*is_root_device=*/true}};
  invocation.entropy_device = true;
  EXPECT_EQ(Execute(invocation), 0);
  const vmm::v1::CreateVmRequest request = service_.last_create();
  ASSERT_EQ(request.drives_size(), 1);
  EXPECT_EQ(request.drives(0).drive_id(), "drive0");
  EXPECT_EQ(request.drives(0).path(), "/images/rootfs.ext4");
  EXPECT_FALSE(request.drives(0).read_only());
  EXPECT_TRUE(request.drives(0).is_root_device());
  EXPECT_TRUE(request.entropy_device());
  EXPECT_EQ(request.vcpu_count(), 2u);
  // The guest's console is all that reaches stdout.
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, RunGuestFailureIsStillExitZero) {
  service_.exit_reason = "triple fault";
  EXPECT_EQ(Execute(RunInvocation()), 0);
  EXPECT_THAT(err_.str(), HasSubstr("vmmctl: vm vm-1 stopped: triple fault\n"));
}

TEST_F(CommandsTest, RunKeepLeavesTheVm) {
  Invocation invocation = RunInvocation();
  invocation.keep = true;
  invocation.vm_id = "kept";
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_THAT(service_.calls(), Not(testing::Contains("DeleteVm")));
  EXPECT_TRUE(service_.exists("kept"));
  EXPECT_THAT(err_.str(), HasSubstr("vmmctl: kept vm kept; delete it with: vmmctl delete kept\n"));
}

TEST_F(CommandsTest, RunDeletesTheVmWhenBootFails) {
  service_.boot_status =
      grpc::Status(grpc::StatusCode::NOT_FOUND, "kernel_path: /images/hello.elf does not exist");
  EXPECT_EQ(Execute(RunInvocation()), 1);
  EXPECT_EQ(err_.str(),
            "vmmctl: RunVm: NOT_FOUND: boot: kernel_path: /images/hello.elf does not exist\n");
  EXPECT_THAT(service_.calls(), ElementsAre("RunVm(start)")) << "vmmd deletes what RunVm made";
  EXPECT_FALSE(service_.exists("vm-1"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, RunCreateFailureHasNothingToDelete) {
  service_.create_status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "vcpu_count: 0");
  EXPECT_EQ(Execute(RunInvocation()), 1);
  EXPECT_EQ(err_.str(), "vmmctl: RunVm: INVALID_ARGUMENT: create: vcpu_count: 0\n");
  EXPECT_THAT(service_.calls(), ElementsAre("RunVm(start)"));
}

TEST_F(CommandsTest, RunInterruptedDeletesTheVmAndExits130) {
  service_.console = {{0, "booting\n"}};
  service_.console_blocks_until_cancelled = true;
  Interruption interruption;
  std::thread signaller([&] {
    service_.console_started.WaitForNotification();
    interruption.Trigger(SIGINT);
  });
  const int status = Execute(RunInvocation(), /*json=*/false, &interruption);
  signaller.join();
  EXPECT_EQ(status, 130);
  EXPECT_EQ(out_.str(), "booting\n");
  EXPECT_EQ(err_.str(), "vmmctl: interrupted by SIGINT; deleting vm vm-1\n");
  EXPECT_THAT(service_.calls(), ElementsAre("RunVm(start)", "StreamConsole(follow)", "DeleteVm"));
  EXPECT_FALSE(service_.exists("vm-1"));
}

TEST_F(CommandsTest, RunInterruptedBeforeStartingCreatesNothing) {
  Interruption interruption;
  interruption.Trigger(SIGTERM);
  EXPECT_EQ(Execute(RunInvocation(), /*json=*/false, &interruption), 128 + SIGTERM);
  EXPECT_THAT(err_.str(), HasSubstr("interrupted by SIGTERM while creating the VM"));
  EXPECT_THAT(service_.calls(), IsEmpty());
}

}  // namespace
}  // namespace vmmctl

namespace vmmctl {
namespace {

TEST_F(CommandsTest, SnapshotSendsTheDirectoryAndPrintsTheFiles) {
  Invocation invocation = Make(Command::kSnapshot, "web-1");
  invocation.snapshot_dir = "/var/lib/vmmd/snapshots/web";
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(service_.last_snapshot().vm_id(), "web-1");
  EXPECT_EQ(service_.last_snapshot().snapshot_dir(), "/var/lib/vmmd/snapshots/web");
  EXPECT_EQ(out_.str(),
            "web-1: saved in /var/lib/vmmd/snapshots/web in 12.3 ms\n"
            "  /var/lib/vmmd/snapshots/web/state  20480 bytes (20480 on disk)\n"
            "  /var/lib/vmmd/snapshots/web/memory  134217728 bytes (4096000 on disk)\n");
}

TEST_F(CommandsTest, RestoreSendsTheOverridesAndPrintsTheId) {
  Invocation invocation = Make(Command::kRestore, "clone-3");
  invocation.snapshot_dir = "/snap/web";
  invocation.resume = true;
  invocation.copy_memory = true;
  invocation.drive_paths = {{"root", "/images/clone-3.ext4"}};
  invocation.taps = {{"eth0", "tap3"}};
  invocation.vsock_path_override = "/run/vmmd/vsock/clone-3.sock";
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(out_.str(), "clone-3\n");
  const vmm::v1::RestoreVmRequest request = service_.last_restore();
  EXPECT_EQ(request.vm_id(), "clone-3");
  EXPECT_EQ(request.snapshot_dir(), "/snap/web");
  EXPECT_TRUE(request.resume());
  EXPECT_TRUE(request.copy_memory());
  ASSERT_EQ(request.drive_overrides_size(), 1);
  EXPECT_EQ(request.drive_overrides(0).drive_id(), "root");
  EXPECT_EQ(request.drive_overrides(0).path(), "/images/clone-3.ext4");
  ASSERT_EQ(request.network_overrides_size(), 1);
  EXPECT_EQ(request.network_overrides(0).iface_id(), "eth0");
  EXPECT_EQ(request.network_overrides(0).host_dev_name(), "tap3");
  ASSERT_TRUE(request.has_vsock_override());
  EXPECT_EQ(request.vsock_override().uds_path(), "/run/vmmd/vsock/clone-3.sock");
  EXPECT_EQ(request.vsock_override().guest_cid(), 0u);
}

TEST_F(CommandsTest, RestoreWithoutOverridesSendsNone) {
  Invocation invocation = Make(Command::kRestore);
  invocation.snapshot_dir = "/snap/web";
  EXPECT_EQ(Execute(invocation), 0);
  EXPECT_EQ(out_.str(), "vm-9\n");
  EXPECT_FALSE(service_.last_restore().has_vsock_override());
  EXPECT_FALSE(service_.last_restore().resume());
}

}  // namespace
}  // namespace vmmctl
