// Drives a running vmmd over its gRPC socket and times it from the client's side.
//
//   --mode=cycle       one client, N cycles of CreateVm -> ConfigureBoot -> StartVcpus ->
//                      first console chunk (StreamConsole with follow, attached before
//                      StartVcpus) -> DeleteVm, timed per phase
//   --mode=throughput  C clients (one connection each) running cycles for --duration_s;
//                      completed cycles per second
//   --mode=memory      the daemon's RSS at rest, then after each of --vms idle configured
//                      VMs (CreateVm + ConfigureBoot, never started; --configure=false:
//                      CreateVm only), then after deleting them
//   --mode=getvm       C clients calling GetVm on one VM for --duration_s: round-trip latency
//   --mode=verify      boots the kernel once and prints the whole console (no timing)
//   --mode=serial      --runs times: boots the serial flood guest (--kernel), which writes
//                      --flood_bytes to COM1 and exits; seconds from StartVcpus to STOPPED
//
// Every mode writes one JSON object to --out (see bench/stats.h).
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/stats.h"
#include "grpcpp/grpcpp.h"
#include "tests/guest/serial_flood_protocol.h"
#include "vmm/v1/vmm.grpc.pb.h"

ABSL_FLAG(std::string, target, "", "vmmd's address, e.g. unix:/tmp/x/vmmd.sock");
ABSL_FLAG(std::string, mode, "cycle", "cycle, throughput, memory, getvm, verify or serial");
ABSL_FLAG(std::string, kernel, "", "guest kernel path (under the daemon's image root)");
ABSL_FLAG(std::string, protocol, "auto", "boot_protocol: auto, linux64 or pvh");
ABSL_FLAG(std::string, cmdline, "console=ttyS0 reboot=k", "guest command line");
ABSL_FLAG(int, vcpus, 1, "vCPUs per VM");
ABSL_FLAG(uint64_t, memory_mib, 128, "guest RAM per VM");
ABSL_FLAG(int, cycles, 200, "cycle: timed cycles");
ABSL_FLAG(int, warmup, 5, "cycle/throughput/getvm: untimed cycles or calls per client first");
ABSL_FLAG(int, clients, 1, "throughput/getvm: concurrent clients, one connection each");
ABSL_FLAG(double, duration_s, 5, "throughput/getvm: how long to run");
ABSL_FLAG(int, vms, 50, "memory: idle configured VMs to create");
ABSL_FLAG(int, pid, 0, "memory: the daemon's pid (for /proc)");
ABSL_FLAG(bool, configure, true,
          "memory: ConfigureBoot each VM after CreateVm (false: CreateVm only, so that no guest "
          "page is touched and the slope is the daemon's own cost per VM)");
ABSL_FLAG(int, runs, 3, "serial: timed floods");
ABSL_FLAG(uint64_t, flood_bytes, 8 << 20,
          "serial: bytes the flood guest writes (a multiple of its 4 KiB chunk)");
ABSL_FLAG(std::string, id_prefix, "bench", "prefix of the VM ids this run creates");
ABSL_FLAG(std::string, out, "", "JSON output file (stdout when empty)");

namespace vmmd::bench {
namespace {

using vmm::v1::VmmService;

constexpr int kRpcDeadlineSeconds = 60;

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kRpcDeadlineSeconds));
  return context;
}

// A connection of its own: gRPC would otherwise share one subchannel between the channels of
// a process, and "C clients" would be C streams on one socket.
std::unique_ptr<VmmService::Stub> Connect() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                           grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    std::fprintf(stderr, "vmmd_bench: cannot connect to %s\n", absl::GetFlag(FLAGS_target).c_str());
    std::exit(1);
  }
  return VmmService::NewStub(channel);
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat("code ", status.error_code(), ": ", status.error_message());
}

// --- one lifecycle ----------------------------------------------------------------------

constexpr int kCyclePhases = 5;
constexpr const char* kCyclePhaseNames[kCyclePhases] = {"create", "configure", "start",
                                                        "first_byte", "delete"};

struct CycleResult {
  bool ok = false;
  std::string error;
  double phase_ms[kCyclePhases] = {};
  double to_first_byte_ms = 0;  // CreateVm sent -> first console chunk received
  double total_ms = 0;          // CreateVm sent -> DeleteVm answered
};

grpc::Status CreateVm(VmmService::Stub& stub, const std::string& id) {
  vmm::v1::CreateVmRequest request;
  request.set_vm_id(id);
  request.set_vcpu_count(absl::GetFlag(FLAGS_vcpus));
  request.set_memory_mib(absl::GetFlag(FLAGS_memory_mib));
  vmm::v1::Vm vm;
  return stub.CreateVm(Context().get(), request, &vm);
}

grpc::Status ConfigureBoot(VmmService::Stub& stub, const std::string& id,
                           const std::string& cmdline = absl::GetFlag(FLAGS_cmdline)) {
  vmm::v1::ConfigureBootRequest request;
  request.set_vm_id(id);
  request.set_kernel_path(absl::GetFlag(FLAGS_kernel));
  request.set_cmdline(cmdline);
  request.set_boot_protocol(absl::GetFlag(FLAGS_protocol));
  vmm::v1::BootInfo info;
  return stub.ConfigureBoot(Context().get(), request, &info);
}

grpc::Status DeleteVm(VmmService::Stub& stub, const std::string& id) {
  vmm::v1::DeleteVmRequest request;
  request.set_vm_id(id);
  vmm::v1::DeleteVmResponse response;
  return stub.DeleteVm(Context().get(), request, &response);
}

CycleResult RunCycle(VmmService::Stub& stub, const std::string& id) {
  CycleResult result;
  const double start = NowMs();
  double t = start;
  auto lap = [&](int phase) {
    const double now = NowMs();
    result.phase_ms[phase] = now - t;
    t = now;
  };
  auto fail = [&](const char* what, const grpc::Status& status) {
    result.error = absl::StrCat(what, ": ", Describe(status));
    DeleteVm(stub, id);  // best effort
    return result;
  };

  grpc::Status status = CreateVm(stub, id);
  if (!status.ok()) return fail("CreateVm", status);
  lap(0);
  status = ConfigureBoot(stub, id);
  if (!status.ok()) return fail("ConfigureBoot", status);
  lap(1);
  // The console is attached before the vCPUs start, as a client that wants the guest's first
  // output does (QEMU's serial pipe is open before QEMU starts, likewise). Nothing would be
  // lost by attaching later (the console is replayed from its first byte), but the first
  // chunk would then wait for one more round trip.
  grpc::ClientContext console_context;
  console_context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(kRpcDeadlineSeconds));
  vmm::v1::StreamConsoleRequest console_request;
  console_request.set_vm_id(id);
  console_request.set_follow(true);
  auto reader = stub.StreamConsole(&console_context, console_request);
  {
    vmm::v1::StartVcpusRequest request;
    request.set_vm_id(id);
    vmm::v1::Vm vm;
    status = stub.StartVcpus(Context().get(), request, &vm);
  }
  if (!status.ok()) {
    console_context.TryCancel();
    reader->Finish();
    return fail("StartVcpus", status);
  }
  lap(2);
  vmm::v1::ConsoleChunk chunk;
  const bool got = reader->Read(&chunk) && !chunk.data().empty();
  lap(3);
  result.to_first_byte_ms = t - start;
  console_context.TryCancel();
  reader->Finish();
  if (!got) {
    result.error = "StreamConsole ended before the guest wrote anything";
    DeleteVm(stub, id);
    return result;
  }
  status = DeleteVm(stub, id);
  if (!status.ok()) return fail("DeleteVm", status);
  lap(4);
  result.total_ms = t - start;
  result.ok = true;
  return result;
}

struct CycleSet {
  std::vector<double> total, to_first_byte;
  std::vector<double> phases[kCyclePhases];
  int failures = 0;
  std::string first_error;

  void Add(const CycleResult& r) {
    if (!r.ok) {
      if (failures++ == 0) first_error = r.error;
      return;
    }
    total.push_back(r.total_ms);
    to_first_byte.push_back(r.to_first_byte_ms);
    for (int p = 0; p < kCyclePhases; ++p) phases[p].push_back(r.phase_ms[p]);
  }
  void Merge(const CycleSet& other) {
    total.insert(total.end(), other.total.begin(), other.total.end());
    to_first_byte.insert(to_first_byte.end(), other.to_first_byte.begin(), other.to_first_byte.end());
    for (int p = 0; p < kCyclePhases; ++p) {
      phases[p].insert(phases[p].end(), other.phases[p].begin(), other.phases[p].end());
    }
    if (failures == 0 && other.failures > 0) first_error = other.first_error;
    failures += other.failures;
  }
  void Report(JsonObject& out, bool with_samples) const {
    JsonObject phase_summaries;
    for (int p = 0; p < kCyclePhases; ++p) phase_summaries.SummaryOf(kCyclePhaseNames[p], phases[p]);
    out.Integer("cycles", static_cast<int64_t>(total.size()))
        .Integer("failures", failures)
        .String("first_error", first_error)
        .SummaryOf("cycle_ms", total)
        .SummaryOf("to_first_byte_ms", to_first_byte)
        .Object("phase_ms", phase_summaries);
    if (with_samples) {
      out.Samples("samples_ms", total).Samples("to_first_byte_samples_ms", to_first_byte);
    }
  }
};

JsonObject Common() {
  JsonObject out;
  out.String("mode", absl::GetFlag(FLAGS_mode))
      .String("kernel", absl::GetFlag(FLAGS_kernel))
      .String("protocol", absl::GetFlag(FLAGS_protocol))
      .Integer("vcpus", absl::GetFlag(FLAGS_vcpus))
      .Integer("memory_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_memory_mib)));
  return out;
}

int CycleMode() {
  auto stub = Connect();
  const std::string prefix = absl::GetFlag(FLAGS_id_prefix);
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) {
    CycleResult r = RunCycle(*stub, absl::StrCat(prefix, "-warm-", i));
    if (!r.ok) {
      std::fprintf(stderr, "vmmd_bench: warm-up cycle failed: %s\n", r.error.c_str());
      return 1;
    }
  }
  CycleSet set;
  for (int i = 0; i < absl::GetFlag(FLAGS_cycles); ++i) {
    set.Add(RunCycle(*stub, absl::StrCat(prefix, "-", i)));
  }
  JsonObject out = Common();
  set.Report(out, /*with_samples=*/true);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && set.failures == 0 ? 0 : 1;
}

int ThroughputMode() {
  const int clients = std::max(1, absl::GetFlag(FLAGS_clients));
  const double duration_ms = absl::GetFlag(FLAGS_duration_s) * 1000;
  const std::string prefix = absl::GetFlag(FLAGS_id_prefix);
  std::vector<std::unique_ptr<VmmService::Stub>> stubs;
  for (int c = 0; c < clients; ++c) stubs.push_back(Connect());

  std::vector<CycleSet> sets(clients);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<double> start{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int w = 0; w < absl::GetFlag(FLAGS_warmup); ++w) {
        RunCycle(*stubs[c], absl::StrCat(prefix, "-c", c, "-warm-", w));
      }
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; NowMs() - start.load() < duration_ms; ++i) {
        sets[c].Add(RunCycle(*stubs[c], absl::StrCat(prefix, "-c", c, "-", i)));
      }
    });
  }
  while (ready.load() < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = NowMs();
  go = true;
  for (std::thread& thread : threads) thread.join();
  const double elapsed_ms = NowMs() - start.load();  // until the last cycle ended
  CycleSet all;
  for (const CycleSet& set : sets) all.Merge(set);
  JsonObject out = Common();
  out.Integer("clients", clients)
      .Number("elapsed_ms", elapsed_ms)
      .Number("cycles_per_second", all.total.size() / (elapsed_ms / 1000.0));
  all.Report(out, /*with_samples=*/false);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && all.failures == 0 ? 0 : 1;
}

// --- memory -----------------------------------------------------------------------------

// From /proc/<pid>/status, in KiB: VmRSS and its parts. (Guest RAM cannot be told apart in
// /proc/<pid>/smaps: the kernel merges its anonymous mappings with malloc's arenas.)
struct Rss {
  double total_kib = 0;  // VmRSS
  double anon_kib = 0;   // RssAnon: heap, stacks, guest pages written
  double file_kib = 0;   // RssFile: the binary and libraries
  double shmem_kib = 0;  // RssShmem: kvm_run areas of the vCPUs
};

Rss ReadRss(int pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  Rss rss;
  std::string line;
  while (std::getline(status, line)) {
    std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.size() < 2) continue;
    double kib = 0;
    if (!absl::SimpleAtod(words[1], &kib)) continue;
    if (words[0] == "VmRSS:") rss.total_kib = kib;
    if (words[0] == "RssAnon:") rss.anon_kib = kib;
    if (words[0] == "RssFile:") rss.file_kib = kib;
    if (words[0] == "RssShmem:") rss.shmem_kib = kib;
  }
  return rss;
}

// Least-squares slope of y over x.
double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
  }
  const double denominator = n * sxx - sx * sx;
  return denominator == 0 ? 0 : (n * sxy - sx * sy) / denominator;
}

int MemoryMode() {
  const int pid = absl::GetFlag(FLAGS_pid);
  if (pid <= 0) {
    std::fprintf(stderr, "vmmd_bench: --mode=memory needs --pid\n");
    return 1;
  }
  auto stub = Connect();
  const std::string prefix = absl::GetFlag(FLAGS_id_prefix);
  // The daemon has served one connection (ours) and nothing else.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Rss rest = ReadRss(pid);
  std::vector<double> count, total, anon;
  count.push_back(0);
  total.push_back(rest.total_kib);
  anon.push_back(rest.anon_kib);
  int failures = 0;
  std::string first_error;
  const int vms = absl::GetFlag(FLAGS_vms);
  for (int i = 0; i < vms; ++i) {
    const std::string id = absl::StrCat(prefix, "-idle-", i);
    grpc::Status status = CreateVm(*stub, id);
    if (status.ok() && absl::GetFlag(FLAGS_configure)) status = ConfigureBoot(*stub, id);
    if (!status.ok()) {
      if (failures++ == 0) first_error = Describe(status);
      continue;
    }
    const Rss now = ReadRss(pid);
    count.push_back(i + 1);
    total.push_back(now.total_kib);
    anon.push_back(now.anon_kib);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Rss loaded = ReadRss(pid);
  for (int i = 0; i < vms; ++i) DeleteVm(*stub, absl::StrCat(prefix, "-idle-", i));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Rss after = ReadRss(pid);

  auto rss_json = [](const Rss& rss) {
    JsonObject o;
    o.Number("total_kib", rss.total_kib)
        .Number("anon_kib", rss.anon_kib)
        .Number("file_kib", rss.file_kib)
        .Number("shmem_kib", rss.shmem_kib);
    return o;
  };
  JsonObject out = Common();
  out.Integer("vms", vms)
      .Bool("configured", absl::GetFlag(FLAGS_configure))
      .Integer("failures", failures)
      .String("first_error", first_error)
      .Object("rest", rss_json(rest))
      .Object("loaded", rss_json(loaded))
      .Object("after_delete", rss_json(after))
      .Number("slope_kib_per_vm", Slope(count, total))
      .Number("slope_anon_kib_per_vm", Slope(count, anon))
      .Samples("count", count)
      .Samples("rss_kib", total);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && failures == 0 ? 0 : 1;
}

// --- GetVm round trips ------------------------------------------------------------------

int GetVmMode() {
  const int clients = std::max(1, absl::GetFlag(FLAGS_clients));
  const double duration_ms = absl::GetFlag(FLAGS_duration_s) * 1000;
  const std::string id = absl::StrCat(absl::GetFlag(FLAGS_id_prefix), "-getvm-", clients);
  auto setup = Connect();
  grpc::Status status = CreateVm(*setup, id);
  if (status.ok()) status = ConfigureBoot(*setup, id);
  if (!status.ok()) {
    std::fprintf(stderr, "vmmd_bench: getvm setup: %s\n", Describe(status).c_str());
    return 1;
  }
  std::vector<std::unique_ptr<VmmService::Stub>> stubs;
  for (int c = 0; c < clients; ++c) stubs.push_back(Connect());
  std::vector<std::vector<double>> latencies(clients);
  std::atomic<int> failures{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<double> start{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      vmm::v1::GetVmRequest request;
      request.set_vm_id(id);
      vmm::v1::Vm vm;
      for (int w = 0; w < absl::GetFlag(FLAGS_warmup) * 20; ++w) {
        stubs[c]->GetVm(Context().get(), request, &vm);
      }
      ++ready;
      while (!go.load()) std::this_thread::yield();
      while (NowMs() - start.load() < duration_ms) {
        const double t = NowMs();
        if (stubs[c]->GetVm(Context().get(), request, &vm).ok()) {
          latencies[c].push_back((NowMs() - t) * 1000.0);
        } else {
          ++failures;
        }
      }
    });
  }
  while (ready.load() < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = NowMs();
  go = true;
  for (std::thread& thread : threads) thread.join();
  const double elapsed_ms = NowMs() - start.load();
  DeleteVm(*setup, id);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  JsonObject out;
  out.String("mode", "getvm")
      .Integer("clients", clients)
      .Integer("calls", static_cast<int64_t>(all.size()))
      .Integer("failures", failures.load())
      .Number("elapsed_ms", elapsed_ms)
      .Number("calls_per_second", all.size() / (elapsed_ms / 1000.0))
      .SummaryOf("latency_us", all);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && failures.load() == 0 ? 0 : 1;
}

// --- verify -----------------------------------------------------------------------------

int VerifyMode() {
  auto stub = Connect();
  const std::string id = absl::StrCat(absl::GetFlag(FLAGS_id_prefix), "-verify");
  grpc::Status status = CreateVm(*stub, id);
  vmm::v1::BootInfo info;
  if (status.ok()) {
    vmm::v1::ConfigureBootRequest request;
    request.set_vm_id(id);
    request.set_kernel_path(absl::GetFlag(FLAGS_kernel));
    request.set_cmdline(absl::GetFlag(FLAGS_cmdline));
    request.set_boot_protocol(absl::GetFlag(FLAGS_protocol));
    status = stub->ConfigureBoot(Context().get(), request, &info);
  }
  if (status.ok()) {
    vmm::v1::StartVcpusRequest request;
    request.set_vm_id(id);
    vmm::v1::Vm vm;
    status = stub->StartVcpus(Context().get(), request, &vm);
  }
  std::string console;
  if (status.ok()) {
    auto context = Context();
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id(id);
    request.set_follow(true);
    auto reader = stub->StreamConsole(context.get(), request);
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) console += chunk.data();
    status = reader->Finish();
  }
  vmm::v1::Vm vm;
  if (status.ok()) {
    vmm::v1::GetVmRequest request;
    request.set_vm_id(id);
    status = stub->GetVm(Context().get(), request, &vm);
  }
  DeleteVm(*stub, id);
  JsonObject out = Common();
  out.Bool("ok", status.ok())
      .String("error", status.ok() ? "" : Describe(status))
      .String("boot_protocol_used", info.boot_protocol())
      .String("exit_reason", vm.exit_reason())
      .String("console", console);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && status.ok() ? 0 : 1;
}

// --- serial output ----------------------------------------------------------------------

// GetVm's period while a flood runs: a small error on floods of seconds, and little CPU
// taken from the vCPU and the daemon on two cores.
constexpr int kStopPollMs = 10;

struct FloodResult {
  bool ok = false;
  std::string error;
  double seconds = 0;  // StartVcpus sent -> GetVm first saw STOPPED
};

// A bound, not a goal: 30 s plus 500 us per byte (sixty times the uncoalesced pace with
// nested KVM; in tools/kvm-vm's software-emulated test VM an exit per byte took over 150 us).
double FloodTimeoutMs(uint64_t bytes) { return 30e3 + 500e-3 * static_cast<double>(bytes); }

// Polls GetVm until the VM is STOPPED; false if `timeout_ms` passes first or GetVm fails.
bool WaitStopped(VmmService::Stub& stub, const std::string& id, double timeout_ms,
                 vmm::v1::Vm* vm, std::string* error) {
  vmm::v1::GetVmRequest request;
  request.set_vm_id(id);
  const double start = NowMs();
  for (;;) {
    const grpc::Status status = stub.GetVm(Context().get(), request, vm);
    if (!status.ok()) {
      *error = absl::StrCat("GetVm: ", Describe(status));
      return false;
    }
    if (vm->state() == vmm::v1::VM_STATE_STOPPED) return true;
    if (NowMs() - start > timeout_ms) {
      *error = absl::StrCat("not stopped after ", timeout_ms / 1000, " s");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kStopPollMs));
  }
}

// Why a stopped flood VM does not count, or "" when it stopped as the guest promises.
std::string CheckFlood(const vmm::v1::Vm& vm, uint64_t bytes) {
  const std::string expected = absl::StrCat("guest exit code ", SERIAL_FLOOD_EXIT_CODE);
  if (vm.exit_reason() != expected) return absl::StrCat("stopped: ", vm.exit_reason());
  if (vm.console_bytes() != bytes) {
    return absl::StrCat("console_bytes ", vm.console_bytes(), ", expected ", bytes);
  }
  return "";
}

std::string FloodCmdline(uint64_t bytes) {
  return absl::StrCat(absl::GetFlag(FLAGS_cmdline), " ", SERIAL_FLOOD_ARGUMENT, bytes);
}

FloodResult RunFlood(VmmService::Stub& stub, const std::string& id, uint64_t bytes) {
  FloodResult result;
  auto fail = [&](const std::string& error) {
    result.error = error;
    DeleteVm(stub, id);  // best effort; stops the VM if it still runs
    return result;
  };
  grpc::Status status = CreateVm(stub, id);
  if (!status.ok()) return fail(absl::StrCat("CreateVm: ", Describe(status)));
  status = ConfigureBoot(stub, id, FloodCmdline(bytes));
  if (!status.ok()) return fail(absl::StrCat("ConfigureBoot: ", Describe(status)));
  const double start = NowMs();
  vmm::v1::StartVcpusRequest request;
  request.set_vm_id(id);
  vmm::v1::Vm vm;
  status = stub.StartVcpus(Context().get(), request, &vm);
  if (!status.ok()) return fail(absl::StrCat("StartVcpus: ", Describe(status)));
  std::string error;
  if (!WaitStopped(stub, id, FloodTimeoutMs(bytes), &vm, &error)) return fail(error);
  result.seconds = (NowMs() - start) / 1000;
  error = CheckFlood(vm, bytes);
  if (!error.empty()) return fail(error);
  status = DeleteVm(stub, id);
  if (!status.ok()) return fail(absl::StrCat("DeleteVm: ", Describe(status)));
  result.ok = true;
  return result;
}

int SerialMode() {
  const uint64_t bytes = absl::GetFlag(FLAGS_flood_bytes);
  if (bytes == 0 || bytes % SERIAL_FLOOD_CHUNK != 0) {
    // The guest rounds up to whole chunks, so console_bytes would not match.
    std::fprintf(stderr, "vmmd_bench: --flood_bytes must be a multiple of %u\n",
                 SERIAL_FLOOD_CHUNK);
    return 2;
  }
  auto stub = Connect();
  std::vector<double> seconds, mb_per_s, us_per_byte;
  int failures = 0;
  std::string first_error;
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    const std::string id = absl::StrCat(absl::GetFlag(FLAGS_id_prefix), "-", i);
    const FloodResult r = RunFlood(*stub, id, bytes);
    if (!r.ok) {
      if (failures++ == 0) first_error = r.error;
      continue;
    }
    seconds.push_back(r.seconds);
    mb_per_s.push_back(static_cast<double>(bytes) / r.seconds / 1e6);
    us_per_byte.push_back(r.seconds * 1e6 / static_cast<double>(bytes));
  }
  JsonObject out = Common();
  out.String("cmdline", FloodCmdline(bytes))
      .Integer("flood_bytes", static_cast<int64_t>(bytes))
      .Integer("runs", static_cast<int64_t>(seconds.size()))
      .Integer("failures", failures)
      .String("first_error", first_error)
      .SummaryOf("seconds", seconds)
      .SummaryOf("mb_per_s", mb_per_s)
      .SummaryOf("us_per_byte", us_per_byte)
      .Samples("samples_s", seconds);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && failures == 0 ? 0 : 1;
}

int Main() {
  if (absl::GetFlag(FLAGS_target).empty()) {
    std::fprintf(stderr, "vmmd_bench: --target is required\n");
    return 2;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "cycle") return CycleMode();
  if (mode == "throughput") return ThroughputMode();
  if (mode == "memory") return MemoryMode();
  if (mode == "getvm") return GetVmMode();
  if (mode == "verify") return VerifyMode();
  if (mode == "serial") return SerialMode();
  std::fprintf(stderr, "vmmd_bench: unknown --mode=%s\n", mode.c_str());
  return 2;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
