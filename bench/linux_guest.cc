#include "bench/linux_guest.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "tests/linux/cpio_archive.h"

ABSL_FLAG(std::string, target, "", "vmmd's address, e.g. unix:/tmp/x/vmmd.sock");
ABSL_FLAG(std::string, work_dir, "", "the daemon's image root: the initramfs and images go here");
ABSL_FLAG(std::string, kernel, "", "Debian's generic bzImage (under --work_dir, for vmmd)");
ABSL_FLAG(std::string, modules, "", "fetch_kernels.sh's modules/ directory, with load-order");
ABSL_FLAG(std::string, init, "", "the guest's /init (bench/block_guest, bench/network_guest)");
ABSL_FLAG(std::string, qemu, "/usr/bin/qemu-system-x86_64",
          "QEMU binary; empty: vmmd only (e.g. a daemon with other flags)");
ABSL_FLAG(uint64_t, memory_mib, 256, "guest RAM");
ABSL_FLAG(int, rounds, 7, "side-by-side runs: rounds of every step in each guest, counted");
ABSL_FLAG(int, warmup_rounds, 1,
          "side-by-side runs: rounds first, not counted: the first steps meet a colder host "
          "(the test VM's translation caches, the page cache) and both guests booting");
ABSL_FLAG(double, timeout_s, 600, "give up on one run after this long");
ABSL_FLAG(std::string, out, "", "JSON output file (stdout when empty)");

namespace vmmd::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

}  // namespace

bool PrepareGuest(const std::string& program, const std::string& path) {
  if (absl::GetFlag(FLAGS_work_dir).empty() || absl::GetFlag(FLAGS_kernel).empty() ||
      absl::GetFlag(FLAGS_target).empty()) {
    std::fprintf(stderr, "%s: --target, --work_dir and --kernel are required\n", program.c_str());
    return false;
  }
  const std::string init = ReadFile(absl::GetFlag(FLAGS_init));
  const std::string modules = absl::GetFlag(FLAGS_modules);
  const std::string order = ReadFile(modules + "/load-order");
  if (init.empty() || order.empty()) {
    std::fprintf(stderr, "%s: missing --init or %s/load-order\n", program.c_str(), modules.c_str());
    return false;
  }
  testing::CpioArchive archive;
  for (const char* directory : {"dev", "proc", "sys", "modules"}) archive.AddDirectory(directory);
  archive.AddCharDevice("dev/console", 5, 1);
  archive.AddFile("init", init, 0755);
  archive.AddFile("modules/load-order", order);
  std::istringstream names(order);
  for (std::string name; std::getline(names, name);) {
    if (!name.empty()) archive.AddFile("modules/" + name, ReadFile(modules + "/" + name));
  }
  std::ofstream out(path, std::ios::binary);
  out << std::move(archive).Finish();
  if (!out) std::fprintf(stderr, "%s: cannot write %s\n", program.c_str(), path.c_str());
  return static_cast<bool>(out);
}

namespace {

// Pauses `side`'s guest (`running` false), or resumes it if it was paused; says a failure on
// stderr (the figures then bear the other guest's idle costs, no more).
void SetRunning(const std::string& program, vmm::v1::VmmService::Stub& stub, Side& side, bool running) {
  if (running == !side.paused) return;
  if (side.vmm == "qemu") {
    const pid_t pid = side.pid;
    if (pid > 0) kill(pid, running ? SIGCONT : SIGSTOP);
    side.paused = !running && pid > 0;
    return;
  }
  vmm::v1::Vm vm;
  grpc::Status status;
  if (running) {
    vmm::v1::ResumeVmRequest request;
    request.set_vm_id(side.vm_id);
    status = stub.ResumeVm(Context().get(), request, &vm);
  } else {
    vmm::v1::PauseVmRequest request;
    request.set_vm_id(side.vm_id);
    status = stub.PauseVm(Context().get(), request, &vm);
  }
  side.paused = !running && status.ok();
  if (!status.ok() && !side.stopped) {
    std::fprintf(stderr, "%s: %s %s: %s\n", program.c_str(), running ? "ResumeVm" : "PauseVm",
                 side.vm_id.c_str(), status.error_message().c_str());
  }
}

}  // namespace

void ServeRounds(const std::string& program, vmm::v1::VmmService::Stub& stub, const std::vector<Side*>& sides,
                 const std::vector<std::string>& steps,
                 const std::function<std::optional<double>(Side& side, size_t step, int number)>& serve) {
  const int warmup = absl::GetFlag(FLAGS_warmup_rounds);
  const int total = warmup + absl::GetFlag(FLAGS_rounds);
  for (int round = 0; round < total; ++round) {
    std::map<Side*, std::vector<std::string>> said;
    for (size_t step = 0; step < steps.size(); ++step) {
      for (size_t i = 0; i < sides.size(); ++i) {
        Side& side = *sides[round % 2 == 0 ? i : sides.size() - 1 - i];
        if (!side.error.empty()) continue;
        // Both start running (booting); from the first step served on, one runs at a time.
        SetRunning(program, stub, side, true);
        const std::optional<double> figure = serve(side, step, round * static_cast<int>(steps.size()) + step + 1);
        if (sides.size() > 1) SetRunning(program, stub, side, false);
        if (!figure || !side.error.empty()) continue;
        said[&side].push_back(absl::StrFormat("%s %.1f", steps[step], *figure));
        if (round < warmup) continue;
        side.rounds.resize(round - warmup + 1);
        side.rounds.back()[steps[step]] = *figure;
      }
    }
    for (Side* side : sides) {
      std::fprintf(stderr, "%s: %s round %d%s: %s%s\n", program.c_str(), side->vmm.c_str(), round + 1,
                   round < warmup ? " (warm-up, not counted)" : "", absl::StrJoin(said[side], ", ").c_str(),
                   side->error.empty() ? "" : absl::StrCat(" failed: ", side->error).c_str());
    }
  }
  for (Side* side : sides) SetRunning(program, stub, *side, true);
}

namespace {

// `side`'s counted rounds as runs, after its boot `boot` (checked against `prefix`): one per
// round, and a failed one with the console when the side or its guest failed.
void AddRuns(const Side& side, GuestRun boot, const std::string& prefix, const std::vector<std::string>& figures,
             std::vector<GuestRun>& runs) {
  for (const auto& figures_of_round : side.rounds) {
    GuestRun run{side.vmm};
    run.ok = figures_of_round.size() == figures.size();
    run.figures = figures_of_round;
    run.device_counters = boot.device_counters;  // read once its guest stopped
    run.run_s = boot.run_s;                      // its guest's whole run, every round
    if (!run.ok) run.error = "a round without every figure";
    runs.push_back(std::move(run));
  }
  CheckRun(boot, prefix, {});
  if (boot.ok && side.error.empty()) return;
  boot.ok = false;
  if (!side.error.empty()) boot.error = absl::StrCat(side.error, "; the guest: ", boot.error.empty() ? "done" : boot.error);
  runs.push_back(std::move(boot));
}

JsonObject PairedRatios(const Side& vmmd, const Side& qemu, const std::vector<std::string>& figures) {
  JsonObject out;
  for (const std::string& key : figures) {
    std::vector<double> ratios;
    int vmmd_ahead = 0;
    for (size_t round = 0; round < vmmd.rounds.size() && round < qemu.rounds.size(); ++round) {
      const auto v = vmmd.rounds[round].find(key), q = qemu.rounds[round].find(key);
      if (v == vmmd.rounds[round].end() || q == qemu.rounds[round].end() || q->second <= 0) continue;
      ratios.push_back(v->second / q->second);
      vmmd_ahead += v->second >= q->second ? 1 : 0;
    }
    JsonObject pair;
    pair.SummaryOf("ratio", ratios).Samples("ratios", ratios).Integer("vmmd_ahead", vmmd_ahead);
    out.Object(key, pair);
  }
  return out;
}

}  // namespace

int RunSideBySide(Side& vmmd, Side& qemu, const std::function<GuestRun()>& boot_vmmd,
                  const std::function<GuestRun()>& boot_qemu, const std::function<void()>& serve,
                  const std::string& prefix, const std::vector<std::string>& figures,
                  const std::vector<std::string>& qemu_figures, JsonObject out,
                  const std::function<void(JsonObject&)>& add_results) {
  const bool with_qemu = !absl::GetFlag(FLAGS_qemu).empty();
  GuestRun vmmd_boot, qemu_boot;
  std::thread vmmd_thread([&] {
    vmmd_boot = boot_vmmd();
    vmmd.stopped = true;
  });
  std::thread qemu_thread([&] {
    if (with_qemu) qemu_boot = boot_qemu();
    qemu.stopped = true;
  });
  serve();
  vmmd_thread.join();
  qemu_thread.join();
  std::vector<GuestRun> runs;
  AddRuns(vmmd, std::move(vmmd_boot), prefix, figures, runs);
  if (with_qemu) {
    AddRuns(qemu, std::move(qemu_boot), prefix, qemu_figures, runs);
    out.Object("vmmd_over_qemu", PairedRatios(vmmd, qemu, qemu_figures));
  }
  out.Integer("rounds", absl::GetFlag(FLAGS_rounds)).Integer("warmup_rounds", absl::GetFlag(FLAGS_warmup_rounds));
  if (add_results) add_results(out);
  return WriteResults(runs, figures, qemu_figures, std::move(out));
}

std::unique_ptr<vmm::v1::VmmService::Stub> VmmdStub() {
  return vmm::v1::VmmService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
}

GuestRun RunUnderVmmd(vmm::v1::VmmService::Stub& stub, vmm::v1::CreateVmRequest create,
                      const std::string& initrd, const std::string& cmdline) {
  GuestRun run{"vmmd"};
  const std::string id = create.vm_id();
  create.set_vcpu_count(1);
  create.set_memory_mib(absl::GetFlag(FLAGS_memory_mib));
  vmm::v1::Vm vm;
  grpc::Status status = stub.CreateVm(Context().get(), create, &vm);
  if (!status.ok()) {
    run.error = absl::StrCat("CreateVm: ", status.error_message());
    return run;
  }
  vmm::v1::ConfigureBootRequest configure;
  configure.set_vm_id(id);
  configure.set_kernel_path(absl::GetFlag(FLAGS_kernel));
  configure.set_initrd_path(initrd);
  configure.set_acpi("off");  // the devices on the command line (virtio_mmio_cmdline.ko)
  configure.set_cmdline(cmdline);
  vmm::v1::BootInfo info;
  status = stub.ConfigureBoot(Context().get(), configure, &info);
  grpc::ClientContext console_context;
  console_context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_timeout_s) * 1000)));
  vmm::v1::StreamConsoleRequest console_request;
  console_request.set_vm_id(id);
  console_request.set_follow(true);
  std::unique_ptr<grpc::ClientReader<vmm::v1::ConsoleChunk>> reader;
  if (status.ok()) {
    reader = stub.StreamConsole(&console_context, console_request);
    vmm::v1::StartVcpusRequest start;
    start.set_vm_id(id);
    status = stub.StartVcpus(Context().get(), start, &vm);
  }
  const double started = NowMs();
  if (status.ok()) {
    // Until the VM stops (reboot=k), which ends the stream.
    for (vmm::v1::ConsoleChunk chunk; reader->Read(&chunk);) run.console += chunk.data();
    run.run_s = (NowMs() - started) / 1000;
    vmm::v1::GetVmRequest get;
    get.set_vm_id(id);
    if (stub.GetVm(Context().get(), get, &vm).ok()) {
      std::vector<std::string> devices;
      for (const auto& device : vm.devices()) devices.push_back(device.ShortDebugString());
      run.device_counters = absl::StrJoin(devices, "; ");
    }
  } else {
    run.error = absl::StrCat("ConfigureBoot/StartVcpus: ", status.error_message());
  }
  if (reader) {
    console_context.TryCancel();
    reader->Finish();
  }
  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id(id);
  vmm::v1::DeleteVmResponse removed;
  stub.DeleteVm(Context().get(), remove, &removed);
  return run;
}

std::vector<std::string> QemuMicrovmArgs(const std::string& initrd, const std::string& cmdline,
                                         const std::vector<std::string>& devices) {
  std::vector<std::string> args = {absl::GetFlag(FLAGS_qemu),
                                   "-M", "microvm",
                                   "-accel", "kvm",
                                   "-cpu", "host",
                                   "-m", absl::StrCat(absl::GetFlag(FLAGS_memory_mib)),
                                   "-smp", "1",
                                   "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                                   // Thread names ("CPU 0/KVM"), which network_bench's CPU split reads.
                                   "-name", "bench,debug-threads=on",
                                   "-serial", "stdio",
                                   "-kernel", absl::GetFlag(FLAGS_kernel),
                                   "-initrd", initrd,
                                   "-append", cmdline};
  args.insert(args.end(), devices.begin(), devices.end());
  return args;
}

GuestRun RunUnderQemu(const std::vector<std::string>& qemu_args, std::atomic<pid_t>* qemu_pid) {
  GuestRun run{"qemu"};
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    run.error = absl::StrCat("pipe: ", std::strerror(errno));
    return run;
  }
  std::vector<std::string> args = qemu_args;
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const double started = NowMs();
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(out[1], 1);
    dup2(null, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  if (qemu_pid != nullptr) *qemu_pid = pid;
  const double deadline = started + absl::GetFlag(FLAGS_timeout_s) * 1000;
  char buffer[4096];
  for (;;) {
    const double now = NowMs();
    if (now >= deadline) {
      run.error = "timed out";
      break;
    }
    pollfd fd = {out[0], POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(deadline - now) + 1) <= 0) continue;
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) break;  // QEMU exited (-no-reboot)
    run.console.append(buffer, n);
  }
  run.run_s = (NowMs() - started) / 1000;
  close(out[0]);
  if (qemu_pid != nullptr) *qemu_pid = 0;
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return run;
}

void CheckRun(GuestRun& run, const std::string& prefix, const std::vector<std::string>& figures) {
  if (!run.error.empty()) return;
  std::string missing;
  for (const std::string& key : figures) {
    if (run.figures.count(key) == 0 && missing.empty()) missing = key;
  }
  // The console turns "\n" into "\r\n".
  const std::string done = absl::StrCat(prefix, "done failures=0");
  const size_t at = run.console.find(done);
  const bool finished = at != std::string::npos && (run.console.compare(at + done.size(), 1, "\n") == 0 ||
                                                    run.console.compare(at + done.size(), 2, "\r\n") == 0);
  run.ok = finished && missing.empty();
  if (run.ok) return;
  const size_t error = run.console.find(absl::StrCat(prefix, "error"));
  run.error = error != std::string::npos ? run.console.substr(error, run.console.find('\n', error) - error)
              : !missing.empty()         ? absl::StrCat("no figure ", missing)
                                         : "the guest did not finish";
}

JsonObject Summaries(const std::vector<GuestRun>& runs, const std::string& vmm,
                     const std::vector<std::string>& figures) {
  std::map<std::string, std::vector<double>> values;
  std::vector<double> run_s;
  int failures = 0;
  std::string first_error;
  for (const GuestRun& run : runs) {
    if (run.vmm != vmm) continue;
    if (!run.ok) {
      if (failures++ == 0) first_error = run.error;
      continue;
    }
    for (const std::string& key : figures) values[key].push_back(run.figures.at(key));
    run_s.push_back(run.run_s);
  }
  JsonObject out;
  out.Integer("runs", static_cast<int64_t>(run_s.size()))
      .Integer("failures", failures)
      .String("first_error", first_error);
  for (const std::string& key : figures) out.SummaryOf(key, values[key]);
  out.SummaryOf("run_s", run_s);
  return out;
}

int WriteResults(const std::vector<GuestRun>& runs, const std::vector<std::string>& figures,
                 const std::vector<std::string>& qemu_figures, JsonObject out) {
  out.Object("vmmd", Summaries(runs, "vmmd", figures)).Object("qemu", Summaries(runs, "qemu", qemu_figures));
  for (const GuestRun& run : runs) {
    if (run.vmm == "vmmd" && !run.device_counters.empty()) {
      out.String("vmmd_device_counters", run.device_counters);
      break;
    }
  }
  for (const char* vmm : {"vmmd", "qemu"}) {
    for (const GuestRun& run : runs) {
      if (run.vmm == vmm && !run.ok) {
        out.String(absl::StrCat(vmm, "_failed_console"),
                   run.console.size() > 6000 ? run.console.substr(run.console.size() - 6000) : run.console);
        break;
      }
    }
  }
  bool all_ok = true;
  for (const GuestRun& run : runs) all_ok = all_ok && run.ok;
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && all_ok ? 0 : 1;
}

}  // namespace vmmd::bench
