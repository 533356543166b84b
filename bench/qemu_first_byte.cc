// The peer: QEMU microvm booting the same guest ELF (through its PVH note), timed from just
// before fork() to the first byte on its serial port, and to the end of the guest's banner.
// One QEMU process per VM is QEMU's model; that process start is what it costs.
//
//   qemu_first_byte --kernel=hello_guest_pvh.elf --runs=30 --out=qemu.json
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/stats.h"

ABSL_FLAG(std::string, qemu, "/usr/bin/qemu-system-x86_64", "QEMU binary");
ABSL_FLAG(std::string, kernel, "", "guest ELF with a PVH entry note");
ABSL_FLAG(std::string, cmdline, "console=ttyS0 reboot=k", "guest command line (-append)");
ABSL_FLAG(uint64_t, memory_mib, 128, "guest RAM");
ABSL_FLAG(int, runs, 30, "timed launches");
ABSL_FLAG(int, warmup, 2, "untimed launches first (page cache, binary)");
ABSL_FLAG(std::string, done_marker, "hello guest done, resetting",
          "console text that ends the banner (its last line)");
ABSL_FLAG(double, timeout_s, 20, "give up on one launch after this long");
ABSL_FLAG(std::string, out, "", "JSON output file (stdout when empty)");

namespace vmmd::bench {
namespace {

std::vector<std::string> QemuArgs() {
  return {absl::GetFlag(FLAGS_qemu),
          "-M", "microvm",
          "-accel", "kvm",
          "-m", absl::StrCat(absl::GetFlag(FLAGS_memory_mib)),
          "-smp", "1",
          "-nodefaults", "-no-user-config", "-nographic",
          "-serial", "stdio",
          "-kernel", absl::GetFlag(FLAGS_kernel),
          "-append", absl::GetFlag(FLAGS_cmdline),
          // The guest ends with the i8042 reset (absent on microvm), then writes 0 to port
          // 0xf4: QEMU's isa-debug-exit there makes QEMU exit by itself.
          "-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
}

struct Launch {
  bool ok = false;
  std::string error;
  double first_byte_ms = 0;
  double banner_ms = 0;  // the done marker seen
  std::string console;
};

Launch LaunchOnce() {
  Launch launch;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    launch.error = absl::StrCat("pipe: ", std::strerror(errno));
    return launch;
  }
  std::vector<std::string> args = QemuArgs();
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const double start = NowMs();
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(out[1], 1);
    dup2(null, 2);  // QEMU warns about CPUID bits this nested KVM lacks
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    launch.error = absl::StrCat("fork: ", std::strerror(errno));
    return launch;
  }
  const double deadline = start + absl::GetFlag(FLAGS_timeout_s) * 1000;
  char buffer[4096];
  while (true) {
    const double now = NowMs();
    if (now >= deadline) {
      launch.error = "timed out";
      break;
    }
    pollfd fd = {out[0], POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(deadline - now) + 1) <= 0) continue;
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) {
      launch.error = "QEMU exited before the banner ended";
      break;
    }
    if (launch.console.empty()) launch.first_byte_ms = NowMs() - start;
    launch.console.append(buffer, n);
    if (absl::StrContains(launch.console, absl::GetFlag(FLAGS_done_marker))) {
      launch.banner_ms = NowMs() - start;
      launch.ok = true;
      break;
    }
  }
  close(out[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return launch;
}

int Main() {
  if (absl::GetFlag(FLAGS_kernel).empty()) {
    std::fprintf(stderr, "qemu_first_byte: --kernel is required\n");
    return 2;
  }
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) {
    Launch launch = LaunchOnce();
    if (!launch.ok) {
      std::fprintf(stderr, "qemu_first_byte: %s\n%s\n", launch.error.c_str(), launch.console.c_str());
      return 1;
    }
  }
  std::vector<double> first_byte, banner;
  int failures = 0;
  std::string first_error, console;
  for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
    Launch launch = LaunchOnce();
    if (!launch.ok) {
      if (failures++ == 0) first_error = launch.error;
      continue;
    }
    if (console.empty()) console = launch.console;
    first_byte.push_back(launch.first_byte_ms);
    banner.push_back(launch.banner_ms);
  }
  std::string command;
  for (const std::string& arg : QemuArgs()) {
    const bool quote = arg.find(' ') != std::string::npos;
    absl::StrAppend(&command, command.empty() ? "" : " ", quote ? "\"" : "", arg, quote ? "\"" : "");
  }
  JsonObject out;
  out.String("command", command)
      .Integer("runs", static_cast<int64_t>(first_byte.size()))
      .Integer("failures", failures)
      .String("first_error", first_error)
      .SummaryOf("first_byte_ms", first_byte)
      .SummaryOf("banner_ms", banner)
      .Samples("first_byte_samples_ms", first_byte)
      .String("console", console);
  return WriteJson(absl::GetFlag(FLAGS_out), out.Render()) && failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
