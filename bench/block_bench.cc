// The block device side by side: one Linux guest (Debian's generic kernel, bench/block_guest
// as /init with Debian's virtio modules) measuring its /dev/vda with O_DIRECT, booted under
// vmmd (through its gRPC API, a raw image as a read-write drive) and under QEMU microvm
// (virtio-blk-device on the same kind of image), in alternating runs. Each run gets a fresh
// image of --image_mib, filled with data first so that no read hits a hole.
//
//   block_bench --target=unix:/tmp/x/vmmd.sock --work_dir=IMAGE_ROOT --kernel=vmlinuz
//               --modules=DIR --init=block_guest --runs=2 --out=block.json
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
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/stats.h"
#include "grpcpp/grpcpp.h"
#include "tests/linux/cpio_archive.h"
#include "vmm/v1/vmm.grpc.pb.h"

ABSL_FLAG(std::string, target, "", "vmmd's address, e.g. unix:/tmp/x/vmmd.sock");
ABSL_FLAG(std::string, work_dir, "", "the daemon's image root: the initramfs and images go here");
ABSL_FLAG(std::string, kernel, "", "Debian's generic bzImage (under --work_dir, for vmmd)");
ABSL_FLAG(std::string, modules, "", "fetch_kernels.sh's modules/ directory, with load-order");
ABSL_FLAG(std::string, init, "", "bench/block_guest, the guest's /init");
ABSL_FLAG(std::string, qemu, "/usr/bin/qemu-system-x86_64",
          "QEMU binary; empty: vmmd only (e.g. a daemon with other flags)");
ABSL_FLAG(uint64_t, image_mib, 256, "size of the guest's disk");
ABSL_FLAG(uint64_t, memory_mib, 256, "guest RAM");
ABSL_FLAG(double, random_seconds, 5, "how long the guest does random 4 KiB reads");
ABSL_FLAG(int, runs, 2, "runs of each VMM, alternating");
ABSL_FLAG(double, timeout_s, 600, "give up on one run after this long");
ABSL_FLAG(std::string, out, "", "JSON output file (stdout when empty)");

namespace vmmd::bench {
namespace {

constexpr char kPrefix[] = "vmmd-blkbench: ";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The guest's command line under both VMMs; vmmd appends its virtio_mmio.device= part, and
// QEMU microvm (auto-kernel-cmdline) its own.
std::string Cmdline() {
  return absl::StrCat("console=ttyS0 reboot=k panic=-1 quiet blkbench.random_seconds=",
                      absl::GetFlag(FLAGS_random_seconds));
}

// /init, the modules and their load order.
bool WriteInitramfs(const std::string& path) {
  const std::string init = ReadFile(absl::GetFlag(FLAGS_init));
  const std::string modules = absl::GetFlag(FLAGS_modules);
  const std::string order = ReadFile(modules + "/load-order");
  if (init.empty() || order.empty()) {
    std::fprintf(stderr, "block_bench: missing --init or %s/load-order\n", modules.c_str());
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
  return static_cast<bool>(out);
}

// A fresh image of --image_mib, every block written (no holes to read fast).
bool WriteImage(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::string block(1 << 20, '\0');
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 7 + 3);
  for (uint64_t i = 0; i < absl::GetFlag(FLAGS_image_mib); ++i) out << block;
  return static_cast<bool>(out.flush());
}

struct Run {
  std::string vmm;
  bool ok = false;
  std::string error;
  std::map<std::string, double> mib_per_s;  // seq_write, seq_read
  double rand_read_iops = 0;
  double boot_to_done_s = 0;
  std::string console;
  std::string device_counters;  // vmmd: GetVm's counters of the drive
};

// Fills `run` from the guest's result lines.
void Parse(Run& run) {
  const std::regex line(R"(vmmd-blkbench: (seq_write|seq_read|rand_read) bytes=(\d+) ops=(\d+) seconds=([0-9.]+))");
  for (auto it = std::sregex_iterator(run.console.begin(), run.console.end(), line);
       it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    const double bytes = std::stod((*it)[2]), ops = std::stod((*it)[3]), seconds = std::stod((*it)[4]);
    if (seconds <= 0) continue;
    if (name == "rand_read") {
      run.rand_read_iops = ops / seconds;
    } else {
      run.mib_per_s[name] = bytes / (1 << 20) / seconds;
    }
  }
  // The console turns "\n" into "\r\n".
  run.ok = std::regex_search(run.console, std::regex(R"(vmmd-blkbench: done failures=0\r?\n)")) &&
           run.mib_per_s.size() == 2 && run.rand_read_iops > 0;
  if (!run.ok && run.error.empty()) {
    const size_t error = run.console.find(absl::StrCat(kPrefix, "error"));
    run.error = error != std::string::npos ? run.console.substr(error, run.console.find('\n', error) - error)
                                           : "the guest did not report every figure";
  }
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

Run RunVmmd(vmm::v1::VmmService::Stub& stub, const std::string& image, const std::string& initrd, int index) {
  Run run{"vmmd"};
  const std::string id = absl::StrCat("blk", index);
  vmm::v1::CreateVmRequest create;
  create.set_vm_id(id);
  create.set_vcpu_count(1);
  create.set_memory_mib(absl::GetFlag(FLAGS_memory_mib));
  vmm::v1::Drive* drive = create.add_drives();
  drive->set_drive_id("bench");
  drive->set_path(image);
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
  configure.set_cmdline(Cmdline());
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
    run.boot_to_done_s = (NowMs() - started) / 1000;
    vmm::v1::GetVmRequest get;
    get.set_vm_id(id);
    if (stub.GetVm(Context().get(), get, &vm).ok() && vm.devices_size() > 0) {
      run.device_counters = vm.devices(0).ShortDebugString();
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
  if (run.error.empty()) Parse(run);
  return run;
}

std::vector<std::string> QemuArgs(const std::string& image, const std::string& initrd) {
  return {absl::GetFlag(FLAGS_qemu),
          "-M", "microvm",
          "-accel", "kvm",
          "-cpu", "host",
          "-m", absl::StrCat(absl::GetFlag(FLAGS_memory_mib)),
          "-smp", "1",
          "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
          "-serial", "stdio",
          "-kernel", absl::GetFlag(FLAGS_kernel),
          "-initrd", initrd,
          "-append", Cmdline(),
          // The host's page cache and fdatasync on FLUSH, as vmmd's drives.
          "-drive", absl::StrCat("id=bench,file=", image, ",format=raw,if=none,cache=writeback"),
          "-device", "virtio-blk-device,drive=bench"};
}

Run RunQemu(const std::string& image, const std::string& initrd) {
  Run run{"qemu"};
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    run.error = absl::StrCat("pipe: ", std::strerror(errno));
    return run;
  }
  std::vector<std::string> args = QemuArgs(image, initrd);
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
  run.boot_to_done_s = (NowMs() - started) / 1000;
  close(out[0]);
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  if (run.error.empty()) Parse(run);
  return run;
}

JsonObject Summaries(const std::vector<Run>& runs, const std::string& vmm) {
  std::vector<double> write, read, iops, boot;
  int failures = 0;
  std::string first_error;
  for (const Run& run : runs) {
    if (run.vmm != vmm) continue;
    if (!run.ok) {
      if (failures++ == 0) first_error = run.error;
      continue;
    }
    write.push_back(run.mib_per_s.at("seq_write"));
    read.push_back(run.mib_per_s.at("seq_read"));
    iops.push_back(run.rand_read_iops);
    boot.push_back(run.boot_to_done_s);
  }
  JsonObject out;
  out.Integer("runs", static_cast<int64_t>(write.size()))
      .Integer("failures", failures)
      .String("first_error", first_error)
      .SummaryOf("seq_write_mib_s", write)
      .SummaryOf("seq_read_mib_s", read)
      .SummaryOf("rand_read_iops", iops)
      .SummaryOf("run_s", boot);
  return out;
}

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_work_dir);
  if (dir.empty() || absl::GetFlag(FLAGS_kernel).empty() || absl::GetFlag(FLAGS_target).empty()) {
    std::fprintf(stderr, "block_bench: --target, --work_dir and --kernel are required\n");
    return 2;
  }
  const std::string initrd = dir + "/block_bench.cpio";
  if (!WriteInitramfs(initrd)) return 1;
  auto stub = vmm::v1::VmmService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  std::vector<Run> runs;
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    // Alternating which goes first, so that neither always meets a warmer host.
    const bool with_qemu = !absl::GetFlag(FLAGS_qemu).empty();
    for (int turn = 0; turn < (with_qemu ? 2 : 1); ++turn) {
      const bool vmmd = !with_qemu || (turn == 0) == (i % 2 == 0);
      const std::string image = absl::StrCat(dir, "/block_bench_", vmmd ? "vmmd" : "qemu", ".img");
      if (!WriteImage(image)) {
        std::fprintf(stderr, "block_bench: cannot write %s\n", image.c_str());
        return 1;
      }
      Run run = vmmd ? RunVmmd(*stub, image, initrd, i) : RunQemu(image, initrd);
      std::fprintf(stderr, "block_bench: %s run %d: %s\n", run.vmm.c_str(), i + 1,
                   run.ok ? absl::StrCat("seq write ", run.mib_per_s["seq_write"], " MiB/s, seq read ",
                                         run.mib_per_s["seq_read"], " MiB/s, random 4 KiB reads ",
                                         run.rand_read_iops, "/s")
                                .c_str()
                          : run.error.c_str());
      unlink(image.c_str());
      runs.push_back(std::move(run));
    }
  }
  const std::string qemu_command =
      absl::GetFlag(FLAGS_qemu).empty() ? "" : absl::StrJoin(QemuArgs("IMAGE", "INITRD"), " ");
  JsonObject out;
  out.Integer("image_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_image_mib)))
      .Number("random_seconds", absl::GetFlag(FLAGS_random_seconds))
      .String("qemu_command", qemu_command)
      .Object("vmmd", Summaries(runs, "vmmd"))
      .Object("qemu", Summaries(runs, "qemu"));
  for (const Run& run : runs) {
    if (run.vmm == "vmmd" && !run.device_counters.empty()) {
      out.String("vmmd_drive_counters", run.device_counters);
      break;
    }
  }
  for (const char* vmm : {"vmmd", "qemu"}) {
    for (const Run& run : runs) {
      if (run.vmm == vmm && !run.ok) {
        out.String(absl::StrCat(vmm, "_failed_console"),
                   run.console.size() > 6000 ? run.console.substr(run.console.size() - 6000) : run.console);
        break;
      }
    }
  }
  bool all_ok = true;
  for (const Run& run : runs) all_ok = all_ok && run.ok;
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && all_ok ? 0 : 1;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
