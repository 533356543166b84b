// Snapshots (issue 13's performance section), through a running vmmd's gRPC API. The daemon
// has --snapshot_root and --coalesce_serial_output=false (tools/bench part 11): every console
// byte then reaches the client when the guest writes it, instead of when the vCPU next exits
// or the VM's worker flushes (every 20 ms), which would hide a restore's first byte.
//
//   --mode=counter  //tests/guest:counter_guest (--kernel) at --memory_mib: boots it, lets it
//                   tick, pauses it while it prints a tick line (so that its next console
//                   byte is a few instructions away and what is timed is the restore, not
//                   its spin between ticks), then --runs SnapshotVm into one directory
//                   (RPC time, the daemon's duration_micros, the memory file's allocated
//                   bytes) and --runs RestoreVm(resume) of new VMs: the RPC, and from its
//                   start to the first console chunk of the restored VM (StreamConsole with
//                   follow, opened as soon as RestoreVm answers); each is deleted after.
//                   Then --runs CreateVm of an empty VM of the same size, for comparison.
//   --mode=restore  --runs more restores of the snapshot --mode=counter left (while tools/bench
//                   runs strace on vmmd), with the wall-clock window of the first: from
//                   RestoreVm's start to its first console byte.
//   --mode=linux    Debian's kernel (--kernel) with bench/snapshot_guest (--init) as /init:
//                   --cold_runs cold boots (StartVcpus -> "ready" on the console); a snapshot
//                   after "ready"; --runs restores timed to the first console chunk, as
//                   above; then vmmd's RSS (--pid) with --clones cold-booted VMs running,
//                   and with as many clones of one snapshot.
//
// Writes one JSON object to --out (bench/stats.h); bench/report.py renders it.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/stats.h"
#include "grpcpp/grpcpp.h"
#include "tests/linux/cpio_archive.h"
#include "vmm/v1/vmm.grpc.pb.h"

ABSL_FLAG(std::string, target, "", "vmmd's address, e.g. unix:/tmp/x/vmmd.sock");
ABSL_FLAG(std::string, mode, "counter", "counter, restore or linux");
ABSL_FLAG(std::string, kernel, "", "counter_guest.elf or Debian's vmlinuz (under the image root)");
ABSL_FLAG(std::string, init, "", "linux: bench/snapshot_guest, the guest's /init");
ABSL_FLAG(std::string, work_dir, "", "linux: the daemon's image root (the initramfs goes here)");
ABSL_FLAG(std::string, snapshot_root, "", "the daemon's --snapshot_root");
ABSL_FLAG(uint64_t, memory_mib, 128, "guest RAM");
ABSL_FLAG(int, runs, 20, "snapshots and restores timed");
ABSL_FLAG(int, cold_runs, 3, "linux: cold boots timed to \"ready\"");
ABSL_FLAG(int, clones, 10, "linux: VMs of each kind running for the RSS figures");
ABSL_FLAG(double, settle_s, 5, "linux: how long each set of VMs runs before its RSS is read");
ABSL_FLAG(int, pid, 0, "linux: the daemon's pid (for /proc)");
ABSL_FLAG(double, timeout_s, 600, "give up on one boot or restore after this long");
ABSL_FLAG(std::string, out, "", "JSON output file (stdout when empty)");

namespace vmmd::bench {
namespace {

using vmm::v1::VmmService;

constexpr char kReady[] = "snapshot-bench: ready";
// The Linux guest's line period: 1 ms for the restore timing (its next byte comes quickly);
// 1 s for the VMs of the RSS figures, ten of which run at once (in emulation a console line
// costs milliseconds of exits, and ten guests printing every millisecond would starve the
// boots).
constexpr int kFastPeriodUs = 1000;
constexpr int kSlowPeriodUs = 1000000;

std::unique_ptr<grpc::ClientContext> Context(double seconds = 120) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return context;
}

std::string Describe(const char* what, const grpc::Status& status) {
  return absl::StrCat(what, ": code ", status.error_code(), ": ", status.error_message());
}

// One StreamConsole call. Next() waits for the next chunk with data; false once the stream
// has ended (follow=false: all was read; or the deadline passed, or the VM went).
class Console {
 public:
  Console(VmmService::Stub& stub, const std::string& id, bool follow, double timeout_s)
      : context_(Context(timeout_s)) {
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id(id);
    request.set_follow(follow);
    reader_ = stub.StreamConsole(context_.get(), request);
  }
  ~Console() {
    context_->TryCancel();
    reader_->Finish();
  }
  bool Next() {
    for (vmm::v1::ConsoleChunk chunk; reader_->Read(&chunk);) {
      if (chunk.data().empty()) continue;
      text_ += chunk.data();
      end_ = chunk.offset() + chunk.data().size();
      return true;
    }
    return false;
  }
  const std::string& text() const { return text_; }
  uint64_t end() const { return end_; }  // the offset just past the last byte read

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<vmm::v1::ConsoleChunk>> reader_;
  std::string text_;
  uint64_t end_ = 0;
};

std::string ReadConsole(VmmService::Stub& stub, const std::string& id) {
  Console console(stub, id, /*follow=*/false, 60);
  while (console.Next()) {
  }
  return console.text();
}

grpc::Status Pause(VmmService::Stub& stub, const std::string& id) {
  vmm::v1::PauseVmRequest request;
  request.set_vm_id(id);
  vmm::v1::Vm vm;
  return stub.PauseVm(Context().get(), request, &vm);
}

grpc::Status Resume(VmmService::Stub& stub, const std::string& id) {
  vmm::v1::ResumeVmRequest request;
  request.set_vm_id(id);
  vmm::v1::Vm vm;
  return stub.ResumeVm(Context().get(), request, &vm);
}

grpc::Status Delete(VmmService::Stub& stub, const std::string& id) {
  vmm::v1::DeleteVmRequest request;
  request.set_vm_id(id);
  vmm::v1::DeleteVmResponse response;
  return stub.DeleteVm(Context().get(), request, &response);
}

// What a run of the program collected: samples by JSON key, and the first failure.
struct Figures {
  std::map<std::string, std::vector<double>> samples;
  int failures = 0;
  std::string first_error;

  void Fail(const std::string& error) {
    std::fprintf(stderr, "snapshot_bench: %s\n", error.c_str());
    if (failures++ == 0) first_error = error;
  }
  void Add(JsonObject& out) const {
    for (const auto& [key, values] : samples) out.SummaryOf(key, values).Samples(key + "_samples", values);
    out.Integer("failures", failures).String("first_error", first_error);
  }
};

// Creates `id` and boots --kernel with `initrd` and `cmdline`, its console stream opened
// before StartVcpus; returns the stream (null on failure, said in `figures`).
std::unique_ptr<Console> Boot(VmmService::Stub& stub, const std::string& id, const std::string& initrd,
                              const std::string& cmdline, Figures& figures, double* started_ms) {
  vmm::v1::CreateVmRequest create;
  create.set_vm_id(id);
  create.set_vcpu_count(1);
  create.set_memory_mib(absl::GetFlag(FLAGS_memory_mib));
  vmm::v1::Vm vm;
  grpc::Status status = stub.CreateVm(Context().get(), create, &vm);
  if (!status.ok()) {
    figures.Fail(Describe("CreateVm", status));
    return nullptr;
  }
  vmm::v1::ConfigureBootRequest configure;
  configure.set_vm_id(id);
  configure.set_kernel_path(absl::GetFlag(FLAGS_kernel));
  configure.set_initrd_path(initrd);
  configure.set_cmdline(cmdline);
  vmm::v1::BootInfo info;
  status = stub.ConfigureBoot(Context().get(), configure, &info);
  if (!status.ok()) {
    figures.Fail(Describe("ConfigureBoot", status));
    return nullptr;
  }
  auto console = std::make_unique<Console>(stub, id, /*follow=*/true, absl::GetFlag(FLAGS_timeout_s));
  vmm::v1::StartVcpusRequest start;
  start.set_vm_id(id);
  *started_ms = NowMs();
  status = stub.StartVcpus(Context().get(), start, &vm);
  if (!status.ok()) {
    figures.Fail(Describe("StartVcpus", status));
    return nullptr;
  }
  return console;
}

// SnapshotVm of the paused `id` into `dir`, --runs times (at least once): the RPC's time,
// the daemon's own duration and the memory file's allocated bytes.
bool Snapshots(VmmService::Stub& stub, const std::string& id, const std::string& dir, int runs,
               Figures& figures) {
  for (int i = 0; i < std::max(runs, 1); ++i) {
    vmm::v1::SnapshotVmRequest request;
    request.set_vm_id(id);
    request.set_snapshot_dir(dir);
    vmm::v1::SnapshotInfo info;
    const double started = NowMs();
    const grpc::Status status = stub.SnapshotVm(Context(absl::GetFlag(FLAGS_timeout_s)).get(), request, &info);
    if (!status.ok() || info.files_size() != 2) {
      figures.Fail(Describe("SnapshotVm", status));
      return false;
    }
    figures.samples["snapshot_rpc_ms"].push_back(NowMs() - started);
    figures.samples["snapshot_daemon_ms"].push_back(info.duration_micros() / 1000.0);
    figures.samples["memory_allocated_mib"].push_back(info.files(1).allocated_bytes() / double(1 << 20));
    figures.samples["state_file_kib"].push_back(info.files(0).size_bytes() / 1024.0);
  }
  return true;
}

// Seconds since the epoch, as strace -ttt prints them.
double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// RestoreVm(resume) of `dir` as `id`, timed to its answer and to the restored VM's first
// console chunk; leaves the VM running. The first chunk's text goes to `first_chunk`, the
// wall-clock window to `window` (start, first byte).
bool TimedRestore(VmmService::Stub& stub, const std::string& dir, const std::string& id,
                  Figures& figures, std::string* first_chunk = nullptr,
                  std::pair<double, double>* window = nullptr) {
  vmm::v1::RestoreVmRequest request;
  request.set_vm_id(id);
  request.set_snapshot_dir(dir);
  request.set_resume(true);
  vmm::v1::Vm vm;
  const double wall_started = WallSeconds();
  const double started = NowMs();
  const grpc::Status status = stub.RestoreVm(Context().get(), request, &vm);
  const double answered = NowMs();
  if (!status.ok()) {
    figures.Fail(Describe("RestoreVm", status));
    return false;
  }
  Console console(stub, id, /*follow=*/true, absl::GetFlag(FLAGS_timeout_s));
  if (!console.Next()) {
    figures.Fail(absl::StrCat(id, ": no console byte after RestoreVm"));
    return false;
  }
  const double first_byte = NowMs();
  figures.samples["restore_rpc_ms"].push_back(answered - started);
  figures.samples["restore_to_first_byte_ms"].push_back(first_byte - started);
  if (first_chunk != nullptr) *first_chunk = console.text();
  if (window != nullptr) *window = {wall_started, WallSeconds()};
  return true;
}

// --runs restores of `dir`, each deleted after its first byte.
void Restores(VmmService::Stub& stub, const std::string& dir, const std::string& prefix, Figures& figures,
              JsonObject& out) {
  std::string example;
  std::pair<double, double> window;
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    const std::string id = absl::StrCat(prefix, "-restored-", i);
    if (!TimedRestore(stub, dir, id, figures, i == 0 ? &example : nullptr, i == 0 ? &window : nullptr)) continue;
    const double started = NowMs();
    const grpc::Status status = Delete(stub, id);
    if (!status.ok()) figures.Fail(Describe("DeleteVm", status));
    figures.samples["delete_ms"].push_back(NowMs() - started);
  }
  out.String("restored_first_chunk", example.substr(0, 80))
      .Raw("window_start_s", absl::StrFormat("%.6f", window.first))  // %g would round it to 10 s
      .Raw("window_end_s", absl::StrFormat("%.6f", window.second));
}

// --- the counter guest ----------------------------------------------------------------------

// --runs CreateVm of an empty VM of the same size, each deleted after: KVM's VM, irqchip, PIT,
// vCPU and memory slot, and the RPC, which a restore pays as well (beside them, a restore
// reads the state file, maps the memory file and puts the machine's state back).
void EmptyCreates(VmmService::Stub& stub, const std::string& prefix, Figures& figures) {
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    vmm::v1::CreateVmRequest create;
    create.set_vm_id(absl::StrCat(prefix, "-empty-", i));
    create.set_vcpu_count(1);
    create.set_memory_mib(absl::GetFlag(FLAGS_memory_mib));
    vmm::v1::Vm vm;
    const double started = NowMs();
    const grpc::Status status = stub.CreateVm(Context().get(), create, &vm);
    if (!status.ok()) {
      figures.Fail(Describe("CreateVm", status));
      return;
    }
    figures.samples["create_rpc_ms"].push_back(NowMs() - started);
    Delete(stub, create.vm_id());
  }
}

// Whether `text` ends inside a tick line ("tick K tsc T" not yet finished).
bool EndsMidTick(const std::string& text) {
  const size_t line = text.rfind('\n');
  const std::string tail = text.substr(line == std::string::npos ? 0 : line + 1);
  return absl::StartsWith(tail, "tick ");
}

int CountTicks(const std::string& text) {
  int ticks = 0;
  for (size_t at = text.find("tick "); at != std::string::npos; at = text.find("tick ", at + 1)) {
    ticks += text.find('\n', at) != std::string::npos ? 1 : 0;
  }
  return ticks;
}

// Pauses the running counter guest `id` while it prints a tick line: on the first console
// chunk that leaves one unfinished (after two whole ticks), then checks the console; if the
// line was finished by the time the pause took hold, resumes and tries again (at most 30
// times; on hardware KVM a line takes microseconds and this may not succeed). Returns whether
// it paused mid-line; the VM is PAUSED either way unless a call failed.
bool PauseMidLine(VmmService::Stub& stub, const std::string& id, int* attempts, Figures& figures) {
  constexpr int kMaxAttempts = 30;
  uint64_t seen = 0;  // console bytes before this attempt's
  for (*attempts = 1;; ++*attempts) {
    {
      Console console(stub, id, /*follow=*/true, absl::GetFlag(FLAGS_timeout_s));
      while (console.Next()) {
        if (console.end() > seen && CountTicks(console.text()) >= 2 && EndsMidTick(console.text())) break;
      }
      const grpc::Status status = Pause(stub, id);
      if (!status.ok()) {
        figures.Fail(Describe("PauseVm", status));
        return false;
      }
    }
    const std::string text = ReadConsole(stub, id);
    if (EndsMidTick(text)) return true;
    if (*attempts == kMaxAttempts) return false;  // paused between two lines
    seen = text.size();
    const grpc::Status status = Resume(stub, id);
    if (!status.ok()) {
      figures.Fail(Describe("ResumeVm", status));
      return false;
    }
  }
}

int CounterMode(bool restore_only) {
  auto stub = VmmService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  const uint64_t mib = absl::GetFlag(FLAGS_memory_mib);
  const std::string id = absl::StrCat("counter-", mib);
  const std::string dir = absl::StrCat(absl::GetFlag(FLAGS_snapshot_root), "/counter-", mib);
  Figures figures;
  JsonObject out;
  out.String("mode", restore_only ? "restore" : "counter")
      .Integer("memory_mib", static_cast<int64_t>(mib))
      .Integer("runs", absl::GetFlag(FLAGS_runs));
  if (restore_only) {
    Restores(*stub, dir, absl::StrCat(id, "-traced"), figures, out);
    figures.Add(out);
    return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && figures.failures == 0 ? 0 : 1;
  }
  double started = 0;
  int attempts = 0;
  bool mid_line = false;
  if (Boot(*stub, id, "", "console=ttyS0", figures, &started) != nullptr) {
    mid_line = PauseMidLine(*stub, id, &attempts, figures);
    if (figures.failures == 0 && Snapshots(*stub, id, dir, absl::GetFlag(FLAGS_runs), figures)) {
      Delete(*stub, id);
      Restores(*stub, dir, id, figures, out);
      EmptyCreates(*stub, id, figures);
    }
  }
  Delete(*stub, id);  // when something failed before
  out.Bool("paused_mid_line", mid_line).Integer("pause_attempts", attempts);
  figures.Add(out);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && figures.failures == 0 ? 0 : 1;
}

// --- the Linux guest ------------------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string Cmdline(int period_us) {
  return absl::StrCat("console=ttyS0 reboot=k panic=-1 quiet period_us=", period_us);
}

// Boots `id` to "ready" (recording the time from StartVcpus under `key`, when not empty) and
// leaves it running; its console stream, or null on failure.
std::unique_ptr<Console> BootToReady(VmmService::Stub& stub, const std::string& id, const std::string& initrd,
                                     int period_us, const std::string& key, Figures& figures) {
  double started = 0;
  std::unique_ptr<Console> console = Boot(stub, id, initrd, Cmdline(period_us), figures, &started);
  while (console && !absl::StrContains(console->text(), kReady)) {
    if (!console->Next()) {
      figures.Fail(absl::StrCat(id, ": no \"ready\"; console: ", console->text().substr(0, 2000)));
      return nullptr;
    }
  }
  if (console && !key.empty()) figures.samples[key].push_back(NowMs() - started);
  return console;
}

constexpr std::pair<const char*, const char*> kRssKeys[] = {
    {"VmRSS:", "rss_kib"}, {"RssAnon:", "anon_kib"}, {"RssFile:", "file_kib"},
    {"RssShmem:", "shmem_kib"}, {"Pss:", "pss_kib"}};

// /proc/<pid>/status (VmRSS and its parts) and smaps_rollup (Pss: a page mapped by N VMs
// counts 1/N in each, where VmRSS counts it N times), in KiB.
JsonObject Rss(int pid) {
  JsonObject out;
  for (const char* file : {"status", "smaps_rollup"}) {
    std::istringstream lines(ReadFile(absl::StrCat("/proc/", pid, "/", file)));
    for (std::string line; std::getline(lines, line);) {
      std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      double kib = 0;
      if (words.size() < 2 || !absl::SimpleAtod(words[1], &kib)) continue;
      for (const auto& [name, key] : kRssKeys) {
        if (words[0] == name) out.Number(key, kib);
      }
    }
  }
  return out;
}

// The RSS figures: the daemon at rest, with --clones cold-booted VMs, after deleting them,
// and with --clones clones of a snapshot of the first of them.
void RssFigures(VmmService::Stub& stub, const std::string& initrd, Figures& figures, JsonObject& out) {
  const int pid = absl::GetFlag(FLAGS_pid);
  const int vms = absl::GetFlag(FLAGS_clones);
  const auto settle = std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_settle_s) * 1000));
  const std::string dir = absl::GetFlag(FLAGS_snapshot_root) + "/linux-clones";
  JsonObject rss;
  rss.Integer("vms", vms).Object("rest", Rss(pid));
  int booted = 0;
  for (int i = 0; i < vms; ++i) {
    booted += BootToReady(stub, absl::StrCat("cold-", i), initrd, kSlowPeriodUs, "rss_cold_boot_ms", figures) ? 1 : 0;
  }
  std::this_thread::sleep_for(settle);
  rss.Integer("cold_running", booted).Object("cold", Rss(pid));
  Figures clone_figures;  // its samples are not the timed series'; its failures count
  const bool paused = Pause(stub, "cold-0").ok();
  const bool saved = paused && Snapshots(stub, "cold-0", dir, 1, clone_figures);
  for (int i = 0; i < vms; ++i) Delete(stub, absl::StrCat("cold-", i));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  rss.Object("after_cold", Rss(pid));
  int restored = 0;
  for (int i = 0; saved && i < vms; ++i) {
    restored += TimedRestore(stub, dir, absl::StrCat("clone-", i), clone_figures) ? 1 : 0;
  }
  std::this_thread::sleep_for(settle);
  rss.Integer("clones_running", restored).Object("clones", Rss(pid));
  for (int i = 0; i < vms; ++i) Delete(stub, absl::StrCat("clone-", i));
  if (clone_figures.failures > 0) figures.Fail(clone_figures.first_error);
  if (booted < vms || restored < vms) {
    figures.Fail(absl::StrCat("RSS: ", booted, " cold VMs and ", restored, " clones ran of ", vms));
  }
  out.Object("rss", rss);
}

int LinuxMode() {
  const std::string initrd = absl::GetFlag(FLAGS_work_dir) + "/snapshot_bench.cpio";
  const std::string init = ReadFile(absl::GetFlag(FLAGS_init));
  if (init.empty() || absl::GetFlag(FLAGS_pid) <= 0) {
    std::fprintf(stderr, "snapshot_bench: --mode=linux needs --init, --work_dir and --pid\n");
    return 2;
  }
  // Only /init and the console: the guest needs no module and no device.
  testing::CpioArchive archive;
  archive.AddDirectory("dev");
  archive.AddCharDevice("dev/console", 5, 1);
  archive.AddFile("init", init, 0755);
  std::ofstream(initrd, std::ios::binary) << std::move(archive).Finish();

  auto stub = VmmService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  const std::string dir = absl::GetFlag(FLAGS_snapshot_root) + "/linux";
  Figures figures;
  JsonObject out;
  out.String("mode", "linux")
      .Integer("memory_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_memory_mib)))
      .Integer("runs", absl::GetFlag(FLAGS_runs))
      .String("cmdline", Cmdline(kFastPeriodUs));
  // Cold boots, one at a time with nothing else running; the last one is snapshotted once it
  // has printed a few lines past "ready".
  const int cold_runs = std::max(1, absl::GetFlag(FLAGS_cold_runs));
  bool saved = false;
  for (int i = 0; i < cold_runs; ++i) {
    const std::string id = absl::StrCat("boot-", i);
    std::unique_ptr<Console> console = BootToReady(*stub, id, initrd, kFastPeriodUs, "cold_boot_ms", figures);
    if (console && i == cold_runs - 1) {
      while (console->text().size() < console->text().find(kReady) + 200 && console->Next()) {
      }
      const grpc::Status status = Pause(*stub, id);
      if (!status.ok()) figures.Fail(Describe("PauseVm", status));
      saved = status.ok() && Snapshots(*stub, id, dir, 1, figures);
      out.String("console_at_snapshot", console->text().substr(0, 4000));
    }
    console.reset();
    Delete(*stub, id);
  }
  if (saved) Restores(*stub, dir, "linux", figures, out);
  RssFigures(*stub, initrd, figures, out);
  figures.Add(out);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && figures.failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_target).empty() || absl::GetFlag(FLAGS_kernel).empty() ||
      absl::GetFlag(FLAGS_snapshot_root).empty()) {
    std::fprintf(stderr, "snapshot_bench: --target, --kernel and --snapshot_root are required\n");
    return 2;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "counter" || mode == "restore") return vmmd::bench::CounterMode(mode == "restore");
  if (mode == "linux") return vmmd::bench::LinuxMode();
  std::fprintf(stderr, "snapshot_bench: --mode is counter, restore or linux\n");
  return 2;
}
