#include "tests/linux/kernel_run.h"

#include <chrono>
#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace vmmd::testing {

KernelRun::KernelRun(vmm::v1::VmmService::Stub* stub, std::string vm_id,
                     const DaemonProcess* daemon)
    : stub_(stub), vm_id_(std::move(vm_id)), daemon_(daemon) {}

KernelRun::~KernelRun() {
  if (follower_.joinable()) {
    grpc::ClientContext context;
    // Bounded: a vCPU thread that cannot be stopped would otherwise hold the test until
    // Bazel's timeout, saying nothing.
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    vmm::v1::DeleteVmRequest request;
    request.set_vm_id(vm_id_);
    vmm::v1::DeleteVmResponse response;
    const grpc::Status deleted = stub_->DeleteVm(&context, request, &response);  // ends the console stream
    // NOT_FOUND: the test deleted it already (the snapshot test does).
    const bool gone = deleted.ok() || deleted.error_code() == grpc::StatusCode::NOT_FOUND;
    EXPECT_TRUE(gone) << "DeleteVm " << vm_id_ << ": " << deleted.error_message();
    if (!gone) {
      if (daemon_ != nullptr) std::cerr << "vmmd's threads:\n" << daemon_->ThreadStates();
      absl::MutexLock lock(&mutex_);
      if (follow_context_ != nullptr) follow_context_->TryCancel();
    }
    follower_.join();
  }
}

vmm::v1::BootInfo KernelRun::Boot(vmm::v1::CreateVmRequest create,
                                  vmm::v1::ConfigureBootRequest configure) {
  vmm::v1::BootInfo info;
  grpc::ClientContext create_context;
  create.set_vm_id(vm_id_);
  vmm::v1::Vm vm;
  grpc::Status status = stub_->CreateVm(&create_context, create, &vm);
  EXPECT_TRUE(status.ok()) << "CreateVm: " << status.error_message();
  if (!status.ok()) return info;
  grpc::ClientContext configure_context;
  configure.set_vm_id(vm_id_);
  status = stub_->ConfigureBoot(&configure_context, configure, &info);
  EXPECT_TRUE(status.ok()) << "ConfigureBoot: " << status.error_message();
  if (!status.ok()) return info;
  {
    absl::MutexLock lock(&mutex_);
    started_ = absl::Now();
  }
  follower_ = std::thread([this] { Follow(); });
  grpc::ClientContext start_context;
  vmm::v1::StartVcpusRequest start;
  start.set_vm_id(vm_id_);
  status = stub_->StartVcpus(&start_context, start, &vm);
  EXPECT_TRUE(status.ok()) << "StartVcpus: " << status.error_message();
  return info;
}

vmm::v1::BootInfo KernelRun::Boot(uint32_t vcpus, uint64_t memory_mib, const std::string& kernel,
                                  const std::string& protocol, const std::string& initrd,
                                  const std::string& cmdline, const std::string& acpi) {
  vmm::v1::CreateVmRequest create;
  create.set_vcpu_count(vcpus);
  create.set_memory_mib(memory_mib);
  vmm::v1::ConfigureBootRequest configure;
  configure.set_kernel_path(kernel);
  configure.set_initrd_path(initrd);
  configure.set_cmdline(cmdline);
  configure.set_boot_protocol(protocol);
  configure.set_acpi(acpi);
  return Boot(std::move(create), std::move(configure));
}

std::string KernelRun::WaitForStop(absl::Duration bound) {
  bool ended_in_time;
  {
    absl::MutexLock lock(&mutex_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stream_ended_; };
    ended_in_time = mutex_.AwaitWithTimeout(absl::Condition(&ended), bound);
  }
  if (!ended_in_time) ReportHang();
  absl::MutexLock lock(&mutex_);
  const absl::Duration to_stop = absl::Now() - started_;
  std::string took = to_init_ == absl::InfiniteDuration()
                         ? "never"
                         : absl::StrFormat("%.1f s", absl::ToDoubleSeconds(to_init_));
  ::testing::Test::RecordProperty("seconds_to_init", took);
  std::cerr << vm_id_ << ": /init after " << took << ", stopped after "
            << absl::StrFormat("%.1f s", absl::ToDoubleSeconds(to_stop)) << "\n";
  return console_;
}

void KernelRun::ReportHang() {
  constexpr absl::Duration kWindow = absl::Seconds(3);
  const vmm::v1::Vm before = Get();
  absl::SleepFor(kWindow);
  const vmm::v1::Vm after = Get();
  std::cerr << vm_id_ << " did not stop in time; in the last " << kWindow << ":\n";
  for (int i = 0; i < after.vcpus_size() && i < before.vcpus_size(); ++i) {
    std::cerr << "  vcpu " << i << " exits:";
    for (const auto& [kind, count] : after.vcpus(i).exits()) {
      const uint64_t then = before.vcpus(i).exits().contains(kind) ? before.vcpus(i).exits().at(kind) : 0;
      if (count != then) std::cerr << " " << kind << " +" << (count - then);
    }
    std::cerr << "\n";
  }
  if (daemon_ != nullptr) std::cerr << "vmmd's threads:\n" << daemon_->ThreadStates();
}

vmm::v1::Vm KernelRun::Get() {
  grpc::ClientContext context;
  vmm::v1::GetVmRequest request;
  request.set_vm_id(vm_id_);
  vmm::v1::Vm vm;
  grpc::Status status = stub_->GetVm(&context, request, &vm);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return vm;
}

void KernelRun::Follow() {
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mutex_);
    follow_context_ = &context;
  }
  vmm::v1::StreamConsoleRequest request;
  request.set_vm_id(vm_id_);
  request.set_follow(true);
  auto reader = stub_->StreamConsole(&context, request);
  vmm::v1::ConsoleChunk chunk;
  while (reader->Read(&chunk)) {
    absl::MutexLock lock(&mutex_);
    console_ += chunk.data();
    // Both inits say "vmmd-init: reached userspace" or "vmmd-drive: reached userspace".
    if (to_init_ == absl::InfiniteDuration() &&
        console_.find(": reached userspace") != std::string::npos) {
      to_init_ = absl::Now() - started_;
    }
  }
  reader->Finish();
  absl::MutexLock lock(&mutex_);
  stream_ended_ = true;
  follow_context_ = nullptr;
}

void ExpectInitChecks(const std::string& console, const std::string& prefix,
                      absl::Span<const char* const> checks, const std::string& ending) {
  std::string problems;
  if (!absl::StrContains(console, prefix + ": reached userspace")) absl::StrAppend(&problems, "never reached /init; ");
  for (const char* check : checks) {
    if (!absl::StrContains(console, absl::StrCat(prefix, ": check ", check, ": PASS"))) {
      absl::StrAppend(&problems, "no PASS for check ", check, "; ");
    }
  }
  if (absl::StrContains(console, ": FAIL")) absl::StrAppend(&problems, "a check failed; ");
  if (!absl::StrContains(console, absl::StrCat(prefix, ": 0 checks failed; ", ending))) {
    absl::StrAppend(&problems, "no \"0 checks failed; ", ending, "\"; ");
  }
  const std::string excerpt = console.size() > 8000 ? console.substr(console.size() - 8000) : console;
  EXPECT_EQ(problems, "") << "the console's end:\n" << excerpt;
}

}  // namespace vmmd::testing
