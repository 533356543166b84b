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
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
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
ABSL_FLAG(int, runs, 2, "runs of each VMM, alternating");
ABSL_FLAG(int, warmup_runs, 1,
          "runs of each VMM first, not counted: the first boots of a bench meet a colder host "
          "(the test VM's translation caches, the page cache)");
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

std::vector<GuestRun> RunAlternating(
    const std::string& program,
    const std::function<GuestRun(bool vmmd, int index, vmm::v1::VmmService::Stub& stub)>& run_one) {
  auto stub = vmm::v1::VmmService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  std::vector<bool> order;
  const bool with_qemu = !absl::GetFlag(FLAGS_qemu).empty();
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    order.push_back(!with_qemu || i % 2 == 0);
    if (with_qemu) order.push_back(i % 2 != 0);
  }
  // Warm-up runs come first, say so, and are dropped; their indices follow the counted ones'
  // (vm ids stay unique).
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup_runs); ++i) {
    for (const bool vmmd : {true, false}) {
      if (!vmmd && !with_qemu) continue;
      const int index = static_cast<int>(order.size()) + 2 * i + (vmmd ? 0 : 1);
      const GuestRun run = run_one(vmmd, index, *stub);
      std::fprintf(stderr, "%s: %s warm-up run %d: %s\n", program.c_str(), vmmd ? "vmmd" : "qemu",
                   i + 1, run.ok ? "done (not counted)" : run.error.c_str());
    }
  }
  std::vector<GuestRun> runs;
  for (size_t i = 0; i < order.size(); ++i) {
    GuestRun run = run_one(order[i], static_cast<int>(i), *stub);
    run.vmm = order[i] ? "vmmd" : "qemu";
    int number = 1;
    for (const GuestRun& earlier : runs) number += earlier.vmm == run.vmm ? 1 : 0;
    std::vector<std::string> parts;
    for (const auto& [key, value] : run.figures) parts.push_back(absl::StrCat(key, " ", value));
    std::fprintf(stderr, "%s: %s run %d: %s\n", program.c_str(), run.vmm.c_str(), number,
                 run.ok ? absl::StrJoin(parts, ", ").c_str() : run.error.c_str());
    runs.push_back(std::move(run));
  }
  return runs;
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
                                   "-serial", "stdio",
                                   "-kernel", absl::GetFlag(FLAGS_kernel),
                                   "-initrd", initrd,
                                   "-append", cmdline};
  args.insert(args.end(), devices.begin(), devices.end());
  return args;
}

GuestRun RunUnderQemu(const std::vector<std::string>& qemu_args) {
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
