// What the device benchmarks (block_bench, network_bench) share: a Linux guest (Debian's
// generic kernel with an initramfs of one static /init and Debian's modules) booted under vmmd
// through its gRPC API and under QEMU microvm, run to its end with its console collected, in
// alternating runs whose figures are summarized into one JSON object per VMM.
#ifndef VMMD_BENCH_LINUX_GUEST_H_
#define VMMD_BENCH_LINUX_GUEST_H_

#include <functional>
#include <map>
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
ABSL_DECLARE_FLAG(int, runs);
ABSL_DECLARE_FLAG(double, timeout_s);
ABSL_DECLARE_FLAG(std::string, out);

namespace vmmd::bench {

// One boot of the guest under one VMM.
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

// Runs --runs of each VMM through `run_one` (which boots the guest under vmmd, through `stub`, a
// client of --target, when `vmmd` is true, else under QEMU, and fills the run's figures):
// first --warmup_runs of each, not counted, then vmmd first in even runs and QEMU first in odd
// ones, so that neither always meets a warmer host; vmmd alone when --qemu is empty. Says each
// run's figures, or its error, on stderr as "PROGRAM: VMM run N: ...".
std::vector<GuestRun> RunAlternating(
    const std::string& program,
    const std::function<GuestRun(bool vmmd, int index, vmm::v1::VmmService::Stub& stub)>& run_one);

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
GuestRun RunUnderQemu(const std::vector<std::string>& args);

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
