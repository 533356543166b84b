#include "tests/guest/guest_vm.h"

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "base/status_matchers.h"
#include "boot/layout.h"

namespace vmmd::testing {
namespace {

// A hang guard, not a timing assertion: the guests need well under a second even on nested
// KVM; if one never finishes, its vCPU is kicked so that the test fails instead of hanging.
constexpr auto kHangGuard = std::chrono::seconds(120);
constexpr int kMaxExits = 1000000;

}  // namespace

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

void GuestVmTest::CreateMachine(int vcpu_count, uint64_t memory_bytes) {
  ASSERT_OK_AND_ASSIGN(Vm vm, kvm().CreateVm());
  vm_.emplace(std::move(vm));
  ASSERT_OK(vm_->SetTssAddress(GuestAddress(layout::kKvmTssAddress)));
  ASSERT_OK(vm_->SetIdentityMapAddress(GuestAddress(layout::kKvmIdentityMapAddress)));
  ASSERT_OK(vm_->CreateIrqchip());
  ASSERT_OK(vm_->CreatePit2());
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(memory_bytes));
  memory_ = std::make_shared<GuestMemory>(std::move(memory));
  ASSERT_OK(vm_->MapGuestMemory(memory_));
  for (int id = 0; id < vcpu_count; ++id) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Vcpu> vcpu, vm_->CreateVcpu(id));
    vcpus_.push_back(std::move(vcpu));
  }
}

std::vector<Vcpu*> GuestVmTest::vcpu_pointers() const {
  std::vector<Vcpu*> pointers;
  for (const auto& vcpu : vcpus_) pointers.push_back(vcpu.get());
  return pointers;
}

std::string GuestVmTest::RunUntilDone(Vcpu& vcpu, const ExitHandler& handler) {
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  std::thread guard([&] {
    std::unique_lock<std::mutex> lock(mutex);
    if (!done.wait_for(lock, kHangGuard, [&] { return finished; })) vcpu.RequestExit();
  });
  std::string failure = "the guest never finished";
  for (int exits = 0; exits < kMaxExits; ++exits) {
    absl::StatusOr<VcpuExit> exit = vcpu.Run();
    if (!exit.ok()) {
      failure = exit.status().ToString();
      break;
    }
    if (std::holds_alternative<vcpu_exit::Interrupted>(*exit)) {
      failure = "hang guard: the guest did not finish";
      break;
    }
    absl::StatusOr<Next> next = handler(*exit);
    if (!next.ok()) {
      failure = std::string(next.status().message());
      break;
    }
    if (*next == Next::kDone) {
      failure = "";
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  done.notify_one();
  guard.join();
  return failure;
}

}  // namespace vmmd::testing
