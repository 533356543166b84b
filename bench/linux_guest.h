// What the device benchmarks (block_bench, network_bench) share: a Linux guest (Debian's
// generic kernel with an initramfs of one static /init and Debian's modules) booted under vmmd
// through its gRPC API and under QEMU microvm at once, run to its end with its console
// collected, its steps paced by the host one guest at a time in rounds, whose figures are
// summarized into one JSON object per VMM with the ratios of each round's pairs.
#ifndef VMMD_BENCH_LINUX_GUEST_H_
#define VMMD_BENCH_LINUX_GUEST_H_

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "bench/stats.h"
#include "vmm/v1/vmm.grpc.pb.h"

// The flags both benchmarks take (defined in linux_guest.cc).
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(std::string, work_dir);
ABSL_DECLARE_FLAG(std::string, kernel);
ABSL_DECLARE_FLAG(std::string, modules);
ABSL_DECLARE_FLAG(std::string, init);
ABSL_DECLARE_FLAG(std::string, qemu);
ABSL_DECLARE_FLAG(uint64_t, memory_mib);
ABSL_DECLARE_FLAG(int, rounds);
ABSL_DECLARE_FLAG(int, warmup_rounds);
ABSL_DECLARE_FLAG(double, timeout_s);
ABSL_DECLARE_FLAG(std::string, out);

namespace vmmd::bench {

// One boot of the guest under one VMM, or (for Summaries) one counted round of it.
struct GuestRun {
  std::string vmm;  // "vmmd" or "qemu"
  bool ok = false;
  std::string error;
  std::string console;
  double run_s = 0;              // StartVcpus (vmmd) or the process start (QEMU) to the end
  std::string device_counters;   // vmmd: GetVm's counters of every device, after the run
  std::map<std::string, double> figures;  // by their JSON key, e.g. "seq_write_mib_s"
};

// Checks --target, --work_dir and --kernel, and writes --init, --modules/load-order and the
// modules it names into a newc archive at `path`. False (having said why on stderr) on failure.
bool PrepareGuest(const std::string& program, const std::string& path);

// One guest of a side-by-side run (RunSideBySide) as the host sees it: whether its boot is
// over, its first failure, and its figures by counted round.
struct Side {
  std::string vmm;            // "vmmd" or "qemu"
  std::string vm_id;          // vmmd: its VM, paused and resumed through the API
  std::atomic<pid_t> pid{0};  // QEMU: its process while it runs, stopped and continued by signals
  std::atomic<bool> stopped{false};
  bool paused = false;  // by ServeRounds
  std::string error;
  std::vector<std::map<std::string, double>> rounds;
};

// Both guests' steps, one at a time, --warmup_rounds + --rounds times: each round, every step
// of vmmd's guest right before the same step of QEMU's (QEMU's first in odd rounds), so that
// each pair of figures is taken seconds apart, in one phase of the host. The guest not being
// served is paused (PauseVm through `stub`; SIGSTOP for QEMU), so that neither's idle costs
// fall on the other's figures; both run again at the end. `serve(side, step,
// number)` has `side`'s guest do step `step` (an index into `steps`, the figures' keys), the
// `number`th of its run, counted from 1; it returns the figure, or nothing when the side does
// not measure it; a failure goes into side.error, and the side is then left out. The first
// --warmup_rounds are not counted. Says each round's figures on stderr.
void ServeRounds(const std::string& program, vmm::v1::VmmService::Stub& stub, const std::vector<Side*>& sides,
                 const std::vector<std::string>& steps,
                 const std::function<std::optional<double>(Side& side, size_t step, int number)>& serve);

// A side-by-side run: boots the guest under vmmd (`boot_vmmd`) and under QEMU (`boot_qemu`,
// not when --qemu is empty) at once, on threads of their own, each marking its side stopped
// when its guest's run ends, while `serve` (ServeRounds) runs on this thread. Then the
// figures: each VMM's Summaries, with each counted round as a run (a side that failed adds a
// failed run with its console), and "vmmd_over_qemu": for each of `qemu_figures`, the
// ratios vmmd / QEMU of the rounds' pairs, and in how many vmmd was ahead. Writes them with
// `out` (and what `add_results`, if given, adds once `serve` is done) as WriteResults does, and
// returns its exit status.
int RunSideBySide(Side& vmmd, Side& qemu, const std::function<GuestRun()>& boot_vmmd,
                  const std::function<GuestRun()>& boot_qemu, const std::function<void()>& serve,
                  const std::string& prefix, const std::vector<std::string>& figures,
                  const std::vector<std::string>& qemu_figures, JsonObject out,
                  const std::function<void(JsonObject&)>& add_results = nullptr);

// A client of vmmd at --target.
std::unique_ptr<vmm::v1::VmmService::Stub> VmmdStub();

// Creates the VM `create` describes (vm_id, devices; vcpu_count and memory_mib are set here),
// boots --kernel with `initrd` and `cmdline`, collects its console until it stops (reboot=k),
// reads its device counters and deletes it. Fills vmm, error, console, run_s and
// device_counters.
GuestRun RunUnderVmmd(vmm::v1::VmmService::Stub& stub, vmm::v1::CreateVmRequest create,
                      const std::string& initrd, const std::string& cmdline);

// QEMU microvm booting --kernel with `initrd` and `cmdline` (1 vCPU, --memory_mib, console on
// stdout, -no-reboot), before `devices` (its -device/-drive/-netdev arguments).
std::vector<std::string> QemuMicrovmArgs(const std::string& initrd, const std::string& cmdline,
                                         const std::vector<std::string>& devices);

// Runs `args` (QemuMicrovmArgs), collecting its stdout until it exits or --timeout_s passes.
// `pid`, when given, holds QEMU's process id while it runs.
GuestRun RunUnderQemu(const std::vector<std::string>& args, std::atomic<pid_t>* pid = nullptr);

// After a run's figures are in: ok when the console ends with "PREFIXdone failures=0" and
// every key of `figures` was filled; otherwise the error is the guest's first "PREFIXerror"
// line, or says which figure is missing.
void CheckRun(GuestRun& run, const std::string& prefix, const std::vector<std::string>& figures);

// The runs of `vmm`: how many succeeded and failed, the first error, a summary of each of
// `figures` and of run_s.
JsonObject Summaries(const std::vector<GuestRun>& runs, const std::string& vmm,
                     const std::vector<std::string>& figures);

// Adds to `out` the Summaries of vmmd's runs ("vmmd", of `figures`) and of QEMU's ("qemu", of
// `qemu_figures`), vmmd's first device counters ("vmmd_device_counters") and each VMM's first
// failed console ("<vmm>_failed_console", its last 6000 bytes), and writes it to --out. The
// program's exit status: 0 when every run succeeded and the file was written.
int WriteResults(const std::vector<GuestRun>& runs, const std::vector<std::string>& figures,
                 const std::vector<std::string>& qemu_figures, JsonObject out);

}  // namespace vmmd::bench

#endif  // VMMD_BENCH_LINUX_GUEST_H_
