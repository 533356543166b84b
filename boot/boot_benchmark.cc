// Times the boot layer alone: building every boot structure in guest memory and programming
// every vCPU, for 1, 8 and 64 vCPUs. The VM, its memory and vCPUs are created outside the
// timed loop. Run: bazel run -c opt //boot:boot_benchmark
#include <memory>
#include <optional>
#include <vector>

#include "benchmark/benchmark.h"
#include "boot/configure_boot.h"
#include "boot/layout.h"
#include "kvm/kvm_system.h"

namespace vmmd {
namespace {

constexpr uint64_t kMemorySize = 128 << 20;

BootRequest Request() {
  BootRequest request;
  request.entry_point = GuestAddress(layout::kHighMemStart);
  request.cmdline = "console=ttyS0 reboot=k panic=1 pci=off";
  return request;
}

// Memory structures only: page tables, GDT, cmdline, e820, zero page, MP table. No KVM.
void BM_WriteBootStructures(benchmark::State& state) {
  GuestMemory memory = GuestMemory::Create(kMemorySize).value();
  const BootRequest request = Request();
  for (auto _ : state) {
    auto info = WriteBootStructures(memory, request, static_cast<uint32_t>(state.range(0)));
    if (!info.ok()) state.SkipWithError(info.status().ToString().c_str());
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_WriteBootStructures)->Arg(1)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);

// The whole boot layer: memory structures plus CPUID, MSRs, regs, FPU, sregs and LAPIC of
// every vCPU through KVM ioctls.
void BM_ConfigureBoot(benchmark::State& state) {
  absl::StatusOr<KvmSystem> kvm = KvmSystem::Open();
  if (!kvm.ok()) {
    state.SkipWithError(kvm.status().ToString().c_str());
    return;
  }
  Vm vm = kvm->CreateVm().value();
  if (!vm.CreateIrqchip().ok()) return state.SkipWithError("KVM_CREATE_IRQCHIP failed");
  auto memory = std::make_shared<GuestMemory>(GuestMemory::Create(kMemorySize).value());
  if (!vm.MapGuestMemory(memory).ok()) return state.SkipWithError("memory registration failed");
  std::vector<std::unique_ptr<Vcpu>> owned;
  std::vector<Vcpu*> vcpus;
  for (int id = 0; id < state.range(0); ++id) {
    owned.push_back(vm.CreateVcpu(id).value());
    vcpus.push_back(owned.back().get());
  }
  const std::vector<kvm_cpuid_entry2> cpuid = kvm->GetSupportedCpuid().value();
  const BootRequest request = Request();
  for (auto _ : state) {
    auto info = ConfigureBoot(BootVm{cpuid, vcpus}, *memory, request);
    if (!info.ok()) state.SkipWithError(info.status().ToString().c_str());
    benchmark::DoNotOptimize(info);
  }
  state.counters["per_vcpu_us"] = benchmark::Counter(
      static_cast<double>(state.range(0)),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert,
      benchmark::Counter::kIs1000);
}
BENCHMARK(BM_ConfigureBoot)->Arg(1)->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace vmmd

BENCHMARK_MAIN();
