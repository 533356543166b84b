// Every RPC of VmmService through a real gRPC server in this process, on a Unix socket:
// success paths and each error code a client can cause.
#include <malloc.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/listen_address.h"
#include "daemon/server.h"
#include "daemon/vm_manager.h"
#include "daemon/vmm_service.h"
#include "daemon/service_test_fixture.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kvm/kvm_test_util.h"
#include "gtest/gtest.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using vmm::v1::VmmService;
using Code = grpc::StatusCode;
using ::vmmd::testing::CopyFile;
using ::vmmd::testing::ServiceTest;
using ::vmmd::testing::ServiceWithKvmTest;
using ::vmmd::testing::ServiceWithoutKvmTest;


// ---------------------------------------------------------------------------------------
// Without KVM: validation, NOT_FOUND and UNAVAILABLE.


TEST_F(ServiceWithoutKvmTest, CreateVmNamesTheBadFieldAndItsLimit) {
  grpc::Status status = Create("bad id!", 1, 64);
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("vm_id may hold only [A-Za-z0-9_-]"));
  status = Create(std::string(65, 'a'), 1, 64);
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("vm_id must be 1 to 64 characters"));
  status = Create("ok", 0, 64);
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("vcpu_count must be 1 to 254; got 0"));
  status = Create("ok", 255, 64);
  EXPECT_THAT(status.error_message(), HasSubstr("vcpu_count must be 1 to 254; got 255"));
  status = Create("ok", 1, 1);
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("memory_mib must be 2 to 1024; got 1"));
  status = Create("ok", 1, 1025);
  EXPECT_THAT(status.error_message(), HasSubstr("memory_mib must be 2 to 1024; got 1025"));
}

TEST_F(ServiceWithoutKvmTest, CreateVmWithoutKvmIsUnavailable) {
  grpc::Status status = Create("fine", 1, 64);
  EXPECT_EQ(status.error_code(), Code::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("/dev/kvm"));
}

TEST_F(ServiceWithoutKvmTest, UnknownVmIsNotFoundForEveryRpc) {
  EXPECT_EQ(Get("ghost").error_code(), Code::NOT_FOUND);
  EXPECT_THAT(Get("ghost").error_message(), HasSubstr("vm_id ghost not found"));
  EXPECT_EQ(Configure("ghost", "/x").error_code(), Code::NOT_FOUND);
  EXPECT_EQ(Start("ghost").error_code(), Code::NOT_FOUND);
  EXPECT_EQ(Pause("ghost").error_code(), Code::NOT_FOUND);
  EXPECT_EQ(Resume("ghost").error_code(), Code::NOT_FOUND);
  EXPECT_EQ(Stop("ghost").error_code(), Code::NOT_FOUND);
  EXPECT_EQ(Delete("ghost").error_code(), Code::NOT_FOUND);
  std::string text;
  EXPECT_EQ(Console("ghost", true, &text).error_code(), Code::NOT_FOUND);
  std::vector<vmm::v1::VmEvent> events;
  EXPECT_EQ(Watch("ghost", &events).error_code(), Code::NOT_FOUND);
}

TEST_F(ServiceWithoutKvmTest, EmptyVmIdIsInvalid) {
  EXPECT_EQ(Get("").error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(Delete("").error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(Start("").error_message(), HasSubstr("vm_id is required"));
}

TEST_F(ServiceWithoutKvmTest, ListVmsIsEmpty) {
  vmm::v1::ListVmsResponse list;
  ASSERT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list).ok());
  EXPECT_EQ(list.vms_size(), 0);
}

// Without KVM the host still describes itself: a scheduler learns why nothing runs here.
TEST_F(ServiceWithoutKvmTest, GetHostInfoSaysThereIsNoKvm) {
  vmm::v1::HostInfo info;
  ASSERT_TRUE(stub_->GetHostInfo(Context().get(), vmm::v1::GetHostInfoRequest(), &info).ok());
  EXPECT_EQ(info.kvm_api_version(), 0);
  EXPECT_TRUE(info.kvm_capabilities().empty());
  EXPECT_FALSE(info.vmmd_version().empty());
  EXPECT_EQ(info.cpu_vendor().size(), 12u);
  EXPECT_EQ(info.vm_count(), 0u);
}

// ---------------------------------------------------------------------------------------
// With KVM (tag requires-kvm): the lifecycle through real guests.


TEST_F(ServiceWithKvmTest, CreateVmReportsTheNewVm) {
  vmm::v1::Vm vm;
  ASSERT_TRUE(Create("first", 2, 64, &vm).ok());
  EXPECT_EQ(vm.vm_id(), "first");
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_CREATED);
  EXPECT_EQ(vm.vcpu_count(), 2u);
  EXPECT_EQ(vm.memory_mib(), 64u);
  grpc::Status status = Create("first", 1, 64);
  EXPECT_EQ(status.error_code(), Code::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("vm_id first already exists"));
}

TEST_F(ServiceWithKvmTest, CreateVmGeneratesAnIdWhenNoneIsGiven) {
  vmm::v1::Vm a, b;
  ASSERT_TRUE(Create("", 1, 16, &a).ok());
  ASSERT_TRUE(Create("", 1, 16, &b).ok());
  EXPECT_TRUE(std::regex_match(a.vm_id(), std::regex("vm-[0-9a-f]{8}"))) << a.vm_id();
  EXPECT_NE(a.vm_id(), b.vm_id());
  vmm::v1::ListVmsResponse list;
  ASSERT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list).ok());
  EXPECT_EQ(list.vms_size(), 2);
}

TEST_F(ServiceWithKvmTest, GetHostInfoReportsKvmLimitsAndWhatVmsHold) {
  auto host_info = [&] {
    vmm::v1::HostInfo info;
    EXPECT_TRUE(stub_->GetHostInfo(Context().get(), vmm::v1::GetHostInfoRequest(), &info).ok());
    return info;
  };
  vmm::v1::HostInfo info = host_info();
  EXPECT_EQ(info.kvm_api_version(), 12);
  EXPECT_GT(info.kvm_capabilities().at("KVM_CAP_IRQCHIP"), 0);
  EXPECT_GT(info.kvm_capabilities().at("KVM_CAP_IOEVENTFD"), 0);
  EXPECT_GE(info.max_vcpus(), 1u);
  EXPECT_LE(info.max_vcpus(), 254u);
  EXPECT_THAT(info.guest_cpu_features(), ::testing::IsSupersetOf({"fpu", "sse2", "lm"}));
  EXPECT_THAT(info.boot_protocols(), ::testing::ElementsAre("linux64", "pvh"));
  EXPECT_THAT(info.devices(), ::testing::Contains("virtio-blk"));
  EXPECT_EQ(info.vm_count(), 0u);
  ASSERT_TRUE(Create("a", 1, 64).ok());
  ASSERT_TRUE(Create("b", 1, 32).ok());
  info = host_info();
  EXPECT_EQ(info.vm_count(), 2u);
  EXPECT_EQ(info.committed_memory_mib(), 96u);
  ASSERT_TRUE(Delete("a").ok());
  info = host_info();
  EXPECT_EQ(info.vm_count(), 1u);
  EXPECT_EQ(info.committed_memory_mib(), 32u);
}

TEST_F(ServiceWithKvmTest, ConfigureBootReportsWhatItWrote) {
  ASSERT_TRUE(Create("boot", 2, 128).ok());
  vmm::v1::BootInfo info;
  ASSERT_TRUE(Configure("boot", Image("hello_guest.elf"), "console=ttyS0 quiet", "", &info).ok());
  EXPECT_EQ(info.entry_point(), 0x100000u);
  EXPECT_EQ(info.zero_page_address(), 0x7000u);
  EXPECT_EQ(info.cmdline_address(), 0x20000u);
  EXPECT_EQ(info.cmdline_size(), std::string("console=ttyS0 quiet").size() + 1);
  EXPECT_EQ(info.mp_table_address(), 0x9fc00u);
  EXPECT_EQ(info.page_table_address(), 0x9000u);
  // RAM, reserved, ACPI data (the tables, acpi "on" by default), RAM.
  ASSERT_EQ(info.e820_size(), 4);
  EXPECT_EQ(info.e820(2).type(), 3u);
  EXPECT_EQ(info.e820(2).address(), info.acpi_rsdp_address());
  EXPECT_EQ(info.e820(3).address() + info.e820(3).size(), 128u << 20);
  EXPECT_EQ(info.acpi_tables_size(), 5);
  vmm::v1::Vm vm;
  ASSERT_TRUE(Get("boot", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_CONFIGURED);
  EXPECT_EQ(vm.boot_info().kernel_path(), Image("hello_guest.elf"));
  // Configuring twice is a state error.
  EXPECT_EQ(Configure("boot", Image("hello_guest.elf")).error_code(), Code::FAILED_PRECONDITION);
}

TEST_F(ServiceWithKvmTest, ConfigureBootRejectsBadImagesAndPaths) {
  ASSERT_TRUE(Create("paths", 1, 64).ok());
  std::ofstream(Image("garbage.bin")) << std::string(4096, 'x');  // long enough, wrong magic
  ::mkdir(Image("a-directory").c_str(), 0755);
  ASSERT_EQ(::symlink("/etc/hostname", Image("escape").c_str()), 0);

  auto expect = [&](const std::string& kernel, Code code, const std::string& text) {
    grpc::Status status = Configure("paths", kernel);
    EXPECT_EQ(status.error_code(), code) << kernel << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text)) << kernel;
  };
  expect("", Code::INVALID_ARGUMENT, "kernel_path is required");
  expect("images/hello_guest.elf", Code::INVALID_ARGUMENT, "absolute path");
  expect(Image("a-directory"), Code::INVALID_ARGUMENT, "not a regular file");
  expect(Image("garbage.bin"), Code::INVALID_ARGUMENT, "neither an ELF vmlinux nor a bzImage");
  expect("/etc/hostname", Code::PERMISSION_DENIED, "not under an image root");
  expect(Image("escape"), Code::PERMISSION_DENIED, "outside the image root");
  expect(Image("../../etc/hostname"), Code::PERMISSION_DENIED, "outside the image root");
  expect(Image("missing.elf"), Code::NOT_FOUND, "does not exist");

  grpc::Status status = Configure("paths", Image("hello_guest.elf"), std::string(70000, 'x'));
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cmdline is 70000 bytes; the limit is 65535"));

  {
    std::ofstream initrd(Image("big.initrd"), std::ios::binary);
    initrd << std::string(40 << 20, '\0');
  }
  status = Configure("paths", Image("hello_guest.elf"), "", Image("big.initrd"));
  EXPECT_EQ(status.error_code(), Code::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("initrd"));
  // None of that changed the VM: it still boots.
  EXPECT_TRUE(Configure("paths", Image("hello_guest.elf")).ok());
}

TEST_F(ServiceWithKvmTest, BootProtocolIsChosenAndReported) {
  ASSERT_TRUE(Create("proto", 1, 64).ok());
  vmm::v1::ConfigureBootRequest request;
  request.set_vm_id("proto");
  request.set_kernel_path(Image("hello_guest.elf"));
  request.set_boot_protocol("floppy");
  vmm::v1::BootInfo info;
  grpc::Status status = stub_->ConfigureBoot(Context().get(), request, &info);
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("boot_protocol \"floppy\" is not one of auto, linux64, pvh"));
  // The hello guest has no PVH note: asking for PVH is the client's mistake.
  request.set_boot_protocol("pvh");
  status = stub_->ConfigureBoot(Context().get(), request, &info);
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("no PVH entry"));
  // auto falls back to the 64-bit protocol.
  request.set_boot_protocol("auto");
  ASSERT_TRUE(stub_->ConfigureBoot(Context().get(), request, &info).ok());
  EXPECT_EQ(info.boot_protocol(), "linux64");
  EXPECT_EQ(info.kernel_format(), "elf");
}

TEST_F(ServiceWithKvmTest, StartVcpusNeedsAConfiguredVm) {
  ASSERT_TRUE(Create("early", 1, 32).ok());
  grpc::Status status = Start("early");
  EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("it is CREATED, and start needs CONFIGURED"));
}

TEST_F(ServiceWithKvmTest, HelloGuestRunsToAResetAndWatchShowsEveryState) {
  ASSERT_TRUE(Create("hello", 1, 64).ok());
  ASSERT_TRUE(Configure("hello", Image("hello_guest.elf"), "console=ttyS0").ok());
  ASSERT_TRUE(Start("hello").ok());
  std::string text;
  ASSERT_TRUE(Console("hello", /*follow=*/true, &text).ok());
  EXPECT_THAT(text, HasSubstr("vmmd hello guest\r\nvcpus: 1\r\nmemory: 64 MiB\r\n"));
  vmm::v1::Vm vm;
  ASSERT_TRUE(Get("hello", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "guest reset");

  // The console also went to the log file.
  std::ifstream log(console_log_dir_ + "/hello.log");
  std::string logged((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(logged, text);

  std::vector<vmm::v1::VmEvent> events;
  ASSERT_TRUE(Watch("hello", &events).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].state(), vmm::v1::VM_STATE_CREATED);
  EXPECT_EQ(events[1].state(), vmm::v1::VM_STATE_CONFIGURED);
  EXPECT_EQ(events[2].state(), vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(events[3].state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(events[3].reason(), "guest reset");
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), i);
    EXPECT_EQ(events[i].vm_id(), "hello");
    EXPECT_GT(events[i].timestamp_unix_nanos(), 0);
  }
}

TEST_F(ServiceWithKvmTest, TestExitPortStopsTheVmAndUnknownPortsAreCounted) {
  // The boot-contract guest reports on port 0xf0 (no device there) and exits through 0xf4.
  ASSERT_TRUE(Create("exit", 1, 64).ok());
  ASSERT_TRUE(Configure("exit", Image("boot_contract_guest.elf")).ok());
  ASSERT_TRUE(Start("exit").ok());
  vmm::v1::Vm vm = WaitFor("exit", [](const vmm::v1::Vm& vm) {
    return vm.state() == vmm::v1::VM_STATE_STOPPED;
  });
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "guest exit code 0");
  EXPECT_GT(vm.unhandled_io_count(), 30u);
}

TEST_F(ServiceWithKvmTest, PauseResumeAndStop) {
  StartIdleGuest("idle");
  vmm::v1::Vm vm;
  // Asking for the state the VM is already in succeeds, so a client may retry a call whose
  // answer it lost; each answer is the VM as it is.
  ASSERT_TRUE(Start("idle", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  ASSERT_TRUE(Resume("idle", &vm).ok()) << "RUNNING: a retried ResumeVm";
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  ASSERT_TRUE(Pause("idle", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_PAUSED);
  ASSERT_TRUE(Pause("idle", &vm).ok()) << "PAUSED: a retried PauseVm";
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_PAUSED);
  grpc::Status status = Start("idle");
  EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION) << "PAUSED is not what Start asks for";
  EXPECT_THAT(status.error_message(), HasSubstr("it is PAUSED"));
  ASSERT_TRUE(Resume("idle", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);

  // The guest printed its line; a non-following console read replays it and ends.
  WaitFor("idle", [](const vmm::v1::Vm& vm) { return vm.console_bytes() >= 18; });
  std::string text;
  ASSERT_TRUE(Console("idle", /*follow=*/false, &text).ok());
  EXPECT_EQ(text, "idle guest ready\r\n");

  // Its probe of an unbacked MMIO address was answered with all ones and counted.
  ASSERT_TRUE(Get("idle", &vm).ok());
  EXPECT_EQ(vm.unhandled_mmio_count(), 2u);

  ASSERT_TRUE(Stop("idle", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "stopped by request");
  ASSERT_TRUE(Stop("idle", &vm).ok()) << "STOPPED: a retried StopVm";
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "stopped by request");
  EXPECT_EQ(Pause("idle").error_code(), Code::FAILED_PRECONDITION);
  EXPECT_EQ(Resume("idle").error_code(), Code::FAILED_PRECONDITION);
  EXPECT_EQ(Start("idle").error_code(), Code::FAILED_PRECONDITION);
}

// A guest that never stops exiting (every port access is counted): paused, its counter stands
// still; resumed, it moves again.
TEST_F(ServiceWithKvmTest, APausedSpinningGuestStopsAndResumeMovesItAgain) {
  ASSERT_TRUE(Create("spin", 1, 32).ok());
  ASSERT_TRUE(Configure("spin", Image("port_spin_guest.elf")).ok());
  ASSERT_TRUE(Start("spin").ok());
  vmm::v1::Vm vm = WaitFor("spin", [](const vmm::v1::Vm& vm) { return vm.unhandled_io_count() > 1000; });
  ASSERT_GT(vm.unhandled_io_count(), 1000u) << "the spinner never got going";

  ASSERT_TRUE(Pause("spin", &vm).ok());
  const uint64_t paused_at = vm.unhandled_io_count();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(Get("spin", &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_PAUSED);
  EXPECT_EQ(vm.unhandled_io_count(), paused_at) << "a paused guest ran on";

  ASSERT_TRUE(Resume("spin").ok());
  vm = WaitFor("spin", [&](const vmm::v1::Vm& vm) { return vm.unhandled_io_count() > paused_at + 1000; });
  EXPECT_GT(vm.unhandled_io_count(), paused_at + 1000) << "the resumed guest did not run";
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
}

TEST_F(ServiceWithKvmTest, DeleteEndsAFollowingConsoleStreamAndForgetsTheVm) {
  StartIdleGuest("followed");
  std::string text;
  grpc::Status stream_status;
  std::thread follower([&] { stream_status = Console("followed", /*follow=*/true, &text); });
  WaitFor("followed", [](const vmm::v1::Vm& vm) { return vm.console_bytes() >= 18; });
  ASSERT_TRUE(Delete("followed").ok());
  follower.join();
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();
  EXPECT_EQ(text, "idle guest ready\r\n");
  EXPECT_EQ(Get("followed").error_code(), Code::NOT_FOUND);
  EXPECT_EQ(Delete("followed").error_code(), Code::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Limits: string lengths, the VM count, the memory of all VMs, the worker's deadline.

TEST_F(ServiceWithoutKvmTest, ConfigureBootChecksEveryStringsLengthFirst) {
  // The VM does not exist: a length error shows that the check came before the lookup.
  auto configure = [&](const std::string& vm_id, const std::string& kernel,
                       const std::string& initrd, const std::string& cmdline,
                       const std::string& protocol) {
    vmm::v1::ConfigureBootRequest request;
    request.set_vm_id(vm_id);
    request.set_kernel_path(kernel);
    request.set_initrd_path(initrd);
    request.set_cmdline(cmdline);
    request.set_boot_protocol(protocol);
    vmm::v1::BootInfo info;
    return stub_->ConfigureBoot(Context().get(), request, &info);
  };
  const std::string path_4095 = "/" + std::string(4094, 'p');
  const std::string path_4096 = "/" + std::string(4095, 'p');
  struct Case {
    grpc::Status status;
    std::string message;
  };
  const Case cases[] = {
      {configure("ghost", path_4096, "", "", ""), "kernel_path is 4096 bytes; the limit is 4095 bytes"},
      {configure("ghost", "/k", path_4096 + "pppp", "", ""), "initrd_path is 4100 bytes; the limit is 4095 bytes"},
      {configure("ghost", "/k", "", std::string(65536, 'c'), ""), "cmdline is 65536 bytes; the limit is 65535 bytes"},
      {configure("ghost", "/k", "", "", std::string(17, 'x')), "boot_protocol is 17 bytes; the limit is 16 bytes"},
      {configure(std::string(65, 'v'), "/k", "", "", ""), "vm_id must be 1 to 64 characters; got 65"},
      {configure("ghost", std::string("/images/a.elf\0/etc/shadow", 25), "", "", ""), "kernel_path contains a NUL byte"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), Code::INVALID_ARGUMENT) << c.message;
    EXPECT_THAT(c.status.error_message(), HasSubstr(c.message));
  }
  // Exactly at the limits, the strings pass and the unknown VM is what is wrong.
  grpc::Status fits = configure("ghost", path_4095, path_4095, std::string(65535, 'c'), "linux64");
  EXPECT_EQ(fits.error_code(), Code::NOT_FOUND) << fits.error_message();

  // Every lookup refuses an over-long vm_id instead of echoing it back.
  const std::string long_id(100000, 'v');
  EXPECT_EQ(Get(long_id).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(Get(long_id).error_message(), HasSubstr("vm_id must be 1 to 64 characters; got 100000"));
  EXPECT_EQ(Delete(long_id).error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(Stop(long_id).error_code(), Code::INVALID_ARGUMENT);
  std::string text;
  EXPECT_EQ(Console(long_id, false, &text).error_code(), Code::INVALID_ARGUMENT);
}

class TotalMemoryLimitTest : public ServiceWithKvmTest {
 protected:
  void AdjustOptions(VmManagerOptions& options) override { options.max_total_memory_mib = 256; }
};

TEST_F(TotalMemoryLimitTest, MemoryOfAllVmsIsLimitedUntilDeleteReleasesIt) {
  ASSERT_TRUE(Create("a", 1, 128).ok());
  ASSERT_TRUE(Create("b", 1, 96).ok());
  grpc::Status status = Create("c", 1, 64);
  EXPECT_EQ(status.error_code(), Code::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(),
              HasSubstr("memory_mib 64 would bring the memory of all VMs to 288 MiB; the limit is "
                        "256 MiB (--max_total_memory_mib), and 224 MiB are in use"));
  // Refused requests reserve nothing: exactly the rest still fits.
  ASSERT_TRUE(Create("c", 1, 32).ok());
  status = Create("d", 1, 2);
  EXPECT_EQ(status.error_code(), Code::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("memory_mib 2 would bring the memory of all VMs to 258 MiB"));
  // A stopped VM keeps its memory; a deleted one gives it back.
  ASSERT_TRUE(Stop("a").ok());
  EXPECT_EQ(Create("d", 1, 2).error_code(), Code::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(Delete("a").ok());
  vmm::v1::Vm vm;
  ASSERT_TRUE(Create("d", 1, 128, &vm).ok());
  EXPECT_EQ(vm.memory_mib(), 128u);
}

class VmCountLimitTest : public ServiceWithKvmTest {
 protected:
  void AdjustOptions(VmManagerOptions& options) override { options.max_vms = 3; }
};

TEST_F(VmCountLimitTest, NumberOfVmsIsLimitedUntilDeleteReleasesOne) {
  for (const char* id : {"one", "two", "three"}) ASSERT_TRUE(Create(id, 1, 16).ok()) << id;
  grpc::Status status = Create("four", 1, 16);
  EXPECT_EQ(status.error_code(), Code::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("3 VMs exist; the limit is 3 (--max_vms)"));
  // A taken id is still reported as such, whatever the count; a retry of the request that
  // made it gets the VM.
  EXPECT_EQ(Create("one", 1, 32).error_code(), Code::ALREADY_EXISTS);
  EXPECT_TRUE(Create("one", 1, 16).ok());
  ASSERT_TRUE(Delete("two").ok());
  EXPECT_TRUE(Create("four", 1, 16).ok());
  EXPECT_EQ(Create("five", 1, 16).error_code(), Code::RESOURCE_EXHAUSTED);
}

// Initrds go from their file straight into guest RAM on each VM's worker: four ConfigureBoot
// calls at once, each with a 64 MiB initrd, leave malloc's memory in use (heap and mapped
// blocks) barely moved. (Read whole into the heap first, they held 256 MiB between them.)
TEST_F(ServiceWithKvmTest, ConcurrentInitrdsAreReadStraightIntoGuestMemory) {
  constexpr int kVms = 4;
  constexpr size_t kInitrdBytes = 64 << 20;
  {
    std::ofstream initrd(Image("big.initrd"), std::ios::binary);
    initrd << std::string(kInitrdBytes, '\x5a');
  }
  for (int i = 0; i < kVms; ++i) ASSERT_TRUE(Create(absl::StrCat("initrd-", i), 1, 256).ok());
  auto heap_in_use = [] {
    const struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
  };
  const size_t before = heap_in_use();
  std::atomic<bool> sampling{true};
  std::atomic<size_t> peak{before};
  std::thread sampler([&] {
    while (sampling.load()) {
      peak.store(std::max(peak.load(), heap_in_use()));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::vector<std::thread> configures;
  std::vector<grpc::Status> results(kVms);
  for (int i = 0; i < kVms; ++i) {
    configures.emplace_back([&, i] {
      results[i] = Configure(absl::StrCat("initrd-", i), Image("idle_guest.elf"), "console=ttyS0",
                             Image("big.initrd"));
    });
  }
  for (std::thread& configure : configures) configure.join();
  sampling = false;
  sampler.join();
  for (int i = 0; i < kVms; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].error_message();
    vmm::v1::Vm vm;
    ASSERT_TRUE(Get(absl::StrCat("initrd-", i), &vm).ok());
    EXPECT_EQ(vm.boot_info().initrd_size(), kInitrdBytes);
  }
  const size_t growth = peak.load() > before ? peak.load() - before : 0;
  std::printf("4 concurrent ConfigureBoot with 64 MiB initrds: malloc in use peaked %.1f MiB "
              "above the start\n", growth / 1048576.0);
  EXPECT_LT(growth, kInitrdBytes / 4) << "an initrd went through the heap";
}

class WorkerTimeoutTest : public ServiceWithKvmTest {
 protected:
  void AdjustOptions(VmManagerOptions& options) override {
    options.worker_timeout = absl::Milliseconds(5);
  }
};

// With a 5 ms worker timeout, calls race their VM's worker (a new thread, a 64 MiB initrd to
// copy). Whatever each answer is, GetVm agrees with it: DEADLINE_EXCEEDED says the request
// was not run and the VM is as it was; any other answer is the outcome. Retries reach the
// goal. (WorkerThreadTest shows each answer deterministically.)
TEST_F(WorkerTimeoutTest, EveryAnswerIsTheTruthAndRetriesReachTheGoal) {
  {
    std::ofstream initrd(Image("big.initrd"), std::ios::binary);
    initrd << std::string(64 << 20, '\0');
  }
  std::atomic<int> deadline_answers{0};
  // Calls `call` until it is run (at most 500 times); after each DEADLINE_EXCEEDED, checks
  // that GetVm shows `unchanged` (NOT_FOUND for VM_STATE_UNSPECIFIED).
  auto until_run = [&](const std::string& id, vmm::v1::VmState unchanged,
                       const std::function<grpc::Status()>& call) {
    grpc::Status status;
    for (int attempt = 0; attempt < 500; ++attempt) {
      status = call();
      if (status.error_code() != Code::DEADLINE_EXCEEDED) return status;
      ++deadline_answers;
      // Not run; or, for PauseVm, run but the vCPU did not park in time, and undone.
      EXPECT_THAT(status.error_message(),
                  ::testing::AnyOf(HasSubstr("the request was not run, and nothing changed"),
                                   HasSubstr("parked before the deadline; it stays RUNNING")));
      vmm::v1::Vm vm;
      const grpc::Status got = Get(id, &vm);
      if (unchanged == vmm::v1::VM_STATE_UNSPECIFIED) {
        EXPECT_EQ(got.error_code(), Code::NOT_FOUND);
      } else {
        EXPECT_EQ(vm.state(), unchanged);
      }
    }
    return status;
  };
  for (int round = 0; round < 5; ++round) {
    const std::string id = absl::StrCat("slow-", round);
    grpc::Status status = until_run(id, vmm::v1::VM_STATE_UNSPECIFIED, [&] { return Create(id, 1, 256); });
    ASSERT_TRUE(status.ok()) << status.error_message();
    // StartVcpus while ConfigureBoot copies the initrd: queued behind it, each Start waits
    // 5 ms, is answered DEADLINE_EXCEEDED and never runs, until one finds the worker free.
    grpc::Status configured;
    std::thread configure([&] {
      configured = until_run(id, vmm::v1::VM_STATE_CREATED, [&] {
        return Configure(id, Image("idle_guest.elf"), "console=ttyS0", Image("big.initrd"));
      });
    });
    vmm::v1::Vm vm;
    for (int attempt = 0; attempt < 5000; ++attempt) {
      status = Start(id);
      if (status.ok()) break;
      EXPECT_TRUE(Get(id, &vm).ok());  // (no ASSERT while `configure` runs)
      EXPECT_NE(vm.state(), vmm::v1::VM_STATE_RUNNING) << status.error_message();
      if (status.error_code() == Code::DEADLINE_EXCEEDED) {
        ++deadline_answers;
        EXPECT_THAT(status.error_message(), HasSubstr("the request was not run, and nothing changed"));
      } else {
        // Run before the configuration: refused, as the state it found.
        EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION) << status.error_message();
        EXPECT_THAT(status.error_message(), HasSubstr("it is CREATED"));
      }
    }
    configure.join();
    ASSERT_TRUE(configured.ok()) << configured.error_message();  // however long the copy took
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(Get(id, &vm).ok());
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
    status = until_run(id, vmm::v1::VM_STATE_RUNNING, [&] { return Pause(id); });
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(Get(id, &vm).ok());
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_PAUSED);
    status = until_run(id, vmm::v1::VM_STATE_PAUSED, [&] { return Stop(id); });
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(Get(id, &vm).ok());
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
    EXPECT_TRUE(Delete(id).ok());
    EXPECT_EQ(Get(id).error_code(), Code::NOT_FOUND);
  }
  std::printf("worker timeout 5 ms: %d answers were DEADLINE_EXCEEDED (not run)\n",
              deadline_answers.load());
  EXPECT_GT(deadline_answers.load(), 0) << "no call ever waited behind the 64 MiB copy";
  vmm::v1::ListVmsResponse empty;
  ASSERT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &empty).ok());
  EXPECT_EQ(empty.vms_size(), 0);
}

}  // namespace
}  // namespace vmmd
