// The KVM floor: the bare ioctl sequence that any VMM pays for one VM, in a tight loop, with
// no daemon, no threads per VM, no guest code. Per cycle:
//   KVM_CREATE_VM, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,
//   mmap 128 MiB anonymous + one KVM_SET_USER_MEMORY_REGION,
//   KVM_CREATE_VCPU + mmap of its kvm_run,
//   teardown (munmap, close vCPU, close VM, munmap RAM).
// Raw ioctls on purpose: this is the yardstick vmmd's cycle is compared with.
// --memory_first registers the RAM right after KVM_CREATE_VM instead, the order vmmd uses:
// the same ioctls, but the memslot update no longer waits behind the irqchip's and PIT's
// SRCU grace periods.
//
//   kvm_floor --iterations=300 --out=floor.json            (serial)
//   kvm_floor --threads=8 --iterations=160 --out=...        (8 loops at once: the rate)
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/stats.h"

ABSL_FLAG(int, iterations, 300, "timed cycles (in all, across threads)");
ABSL_FLAG(int, warmup, 10, "untimed cycles first (per thread)");
ABSL_FLAG(uint64_t, memory_mib, 128, "guest RAM per VM");
ABSL_FLAG(int, threads, 1, "loops running at once; with more than 1, the rate is what counts");
ABSL_FLAG(bool, memory_first, false,
          "register guest RAM before KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 (vmmd's order)");
ABSL_FLAG(std::string, out, "", "JSON output file (stdout when empty)");

namespace vmmd::bench {
namespace {

constexpr int kPhases = 8;
constexpr const char* kPhaseNames[kPhases] = {"create_vm", "irqchip",  "pit",      "memory",
                                              "vcpu",      "close_vcpu", "close_vm", "unmap_ram"};

struct Cycle {
  double phase_ms[kPhases] = {};
  double total_ms = 0;
};

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "kvm_floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

Cycle RunCycle(int kvm_fd, int run_size, uint64_t memory_bytes, bool memory_first) {
  Cycle cycle;
  double t = NowMs();
  const double start = t;
  auto lap = [&](int phase) {
    const double now = NowMs();
    cycle.phase_ms[phase] = now - t;
    t = now;
  };

  const int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (vm < 0) Die("KVM_CREATE_VM");
  lap(0);
  void* ram = nullptr;
  auto map_memory = [&] {
    ram = mmap(nullptr, memory_bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) Die("mmap(guest RAM)");
    kvm_userspace_memory_region region = {};
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = memory_bytes;
    region.userspace_addr = reinterpret_cast<uint64_t>(ram);
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) Die("KVM_SET_USER_MEMORY_REGION");
    lap(3);
  };
  if (memory_first) map_memory();
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) Die("KVM_CREATE_IRQCHIP");
  lap(1);
  kvm_pit_config pit = {};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) Die("KVM_CREATE_PIT2");
  lap(2);
  if (!memory_first) map_memory();
  const int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) Die("KVM_CREATE_VCPU");
  void* run = mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) Die("mmap(kvm_run)");
  lap(4);
  munmap(run, run_size);
  close(vcpu);
  lap(5);
  close(vm);
  lap(6);
  munmap(ram, memory_bytes);
  lap(7);
  cycle.total_ms = t - start;
  return cycle;
}

int Main() {
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  const int iterations = std::max(threads, absl::GetFlag(FLAGS_iterations));
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const uint64_t memory_bytes = absl::GetFlag(FLAGS_memory_mib) << 20;
  const bool memory_first = absl::GetFlag(FLAGS_memory_first);

  const int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0) Die("open /dev/kvm");
  const int run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) Die("KVM_GET_VCPU_MMAP_SIZE");

  std::vector<std::vector<Cycle>> per_thread(threads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  double start = 0, end = 0;
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    const int count = iterations / threads + (i < iterations % threads ? 1 : 0);
    workers.emplace_back([&, i, count] {
      for (int w = 0; w < warmup; ++w) RunCycle(kvm_fd, run_size, memory_bytes, memory_first);
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int c = 0; c < count; ++c) {
        per_thread[i].push_back(RunCycle(kvm_fd, run_size, memory_bytes, memory_first));
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  start = NowMs();
  go = true;
  for (std::thread& worker : workers) worker.join();
  end = NowMs();

  std::vector<double> totals;
  std::vector<std::vector<double>> phases(kPhases);
  for (const auto& cycles : per_thread) {
    for (const Cycle& cycle : cycles) {
      totals.push_back(cycle.total_ms);
      for (int p = 0; p < kPhases; ++p) phases[p].push_back(cycle.phase_ms[p]);
    }
  }
  JsonObject phase_summaries;
  for (int p = 0; p < kPhases; ++p) phase_summaries.SummaryOf(kPhaseNames[p], phases[p]);
  JsonObject out;
  out.Integer("threads", threads)
      .Bool("memory_first", memory_first)
      .Integer("cycles", static_cast<int64_t>(totals.size()))
      .Integer("memory_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_memory_mib)))
      .Number("elapsed_ms", end - start)
      .Number("cycles_per_second", totals.size() / ((end - start) / 1000.0))
      .SummaryOf("cycle_ms", totals)
      .Object("phase_ms", phase_summaries)
      .Samples("samples_ms", totals);
  close(kvm_fd);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) ? 0 : 1;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
