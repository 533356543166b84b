#include "tests/daemon/daemon_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace vmmd::testing {
namespace {

int CountEntries(const std::string& directory) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

bool CopyFile(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary);
  out << in.rdbuf();
  return in.good() && out.good();
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(
    const std::string& binary, const std::vector<std::string>& images,
    const std::vector<std::string>& extra_flags, const std::vector<std::string>& environment) {
  std::unique_ptr<DaemonProcess> daemon(new DaemonProcess());
  // Not TEST_TMPDIR: under Bazel it is deeper than a Unix socket path may be (108 bytes).
  std::string pattern = "/tmp/vmmd-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  daemon->directory_ = pattern;
  daemon->socket_path_ = absl::StrCat(pattern, "/run/vmmd.sock");
  daemon->image_root_ = absl::StrCat(pattern, "/images");
  daemon->log_path_ = absl::StrCat(pattern, "/vmmd.log");
  ::mkdir(daemon->image_root_.c_str(), 0755);
  for (const std::string& image : images) {
    if (!CopyFile(image, daemon->ImagePath(BaseName(image)))) {
      return absl::NotFoundError(absl::StrCat("cannot copy test image ", image));
    }
  }

  // An --image_root among extra_flags adds to the daemon's own: the flag is one list.
  std::string image_roots = daemon->image_root_;
  std::vector<std::string> args = {binary, absl::StrCat("--listen=unix:", daemon->socket_path_)};
  for (const std::string& flag : extra_flags) {
    if (absl::StartsWith(flag, "--image_root=")) {
      absl::StrAppend(&image_roots, ",", flag.substr(strlen("--image_root=")));
    } else {
      args.push_back(flag);
    }
  }
  args.push_back(absl::StrCat("--image_root=", image_roots));
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int log = ::open(daemon->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, STDERR_FILENO);
    ::dup2(log, STDOUT_FILENO);
    for (const std::string& entry : environment) ::putenv(const_cast<char*>(entry.c_str()));
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  daemon->pid_ = pid;

  for (int i = 0; i < 500; ++i) {  // up to 10 s
    struct stat info;
    if (::stat(daemon->socket_path_.c_str(), &info) == 0) {
      auto channel = daemon->Connect();
      if (channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(200))) {
        return daemon;
      }
    }
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      daemon->pid_ = -1;
      return absl::InternalError(absl::StrCat("vmmd exited early: ", daemon->Log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("vmmd did not start serving: ", daemon->Log()));
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!directory_.empty()) {
    std::string command = absl::StrCat("rm -rf '", directory_, "'");
    [[maybe_unused]] int ignored = ::system(command.c_str());
  }
}

std::shared_ptr<grpc::Channel> DaemonProcess::Connect() const {
  return grpc::CreateChannel(target(), grpc::InsecureChannelCredentials());
}

absl::StatusOr<int> DaemonProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("vmmd is not running");
  ::kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("vmmd did not exit after SIGTERM");
}

namespace {

// Calls `visit(fd, target)` for each open fd of `pid`, `target` as readlink gives it.
void ForEachOpenFd(pid_t pid, const std::function<void(absl::string_view, absl::string_view)>& visit) {
  const std::string fds = absl::StrCat("/proc/", pid, "/fd");
  DIR* dir = ::opendir(fds.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char target[256];
    const ssize_t length =
        ::readlink(absl::StrCat(fds, "/", entry->d_name).c_str(), target, sizeof(target) - 1);
    visit(entry->d_name, length > 0 ? absl::string_view(target, length) : "?");
  }
  ::closedir(dir);
}

// Under TSan the runtime itself opens fds in vmmd: the first report it has to check against
// tools/tsan.supp starts llvm-symbolizer and keeps a pipe to it and one from it (sanitizer
// common's CreateTwoHighNumberedPipes). vmmd opens no pipes, so under TSan pipes are not
// counted.
bool CountsAsVmmds(absl::string_view target) {
#ifdef VMMD_TSAN
  return !absl::StartsWith(target, "pipe:");
#else
  (void)target;
  return true;
#endif
}

// One thread's /proc/<pid>/task/<tid> directory, and its name (comm).
struct ThreadFiles {
  std::string directory;
  std::string name;
  // A file of the directory, whole ("" when unreadable).
  std::string Read(const char* file) const {
    std::ifstream in(absl::StrCat(directory, "/", file));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

// Calls `visit` for each thread of `pid`.
void ForEachThread(pid_t pid, const std::function<void(const ThreadFiles&)>& visit) {
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    ThreadFiles thread{absl::StrCat(tasks, "/", entry->d_name), ""};
    thread.name = std::string(absl::StripTrailingAsciiWhitespace(thread.Read("comm")));
    visit(thread);
  }
  ::closedir(dir);
}

}  // namespace

int DaemonProcess::OpenFdCount() const {
  int count = 0;
  ForEachOpenFd(pid_, [&count](absl::string_view, absl::string_view target) {
    if (CountsAsVmmds(target)) ++count;
  });
  return count;
}
int DaemonProcess::ThreadCount() const { return CountEntries(absl::StrCat("/proc/", pid_, "/task")); }

int DaemonProcess::VmThreadCount() const {
  int count = 0;
  for (absl::string_view name : absl::StrSplit(ThreadNames(), ' ', absl::SkipEmpty())) {
    if (absl::StrContains(name, "/worker") || absl::StrContains(name, "/vcpu")) ++count;
  }
  return count;
}

std::string DaemonProcess::OpenFdTargets() const {
  std::string targets;
  ForEachOpenFd(pid_, [&targets](absl::string_view fd, absl::string_view target) {
    absl::StrAppend(&targets, fd, "=", target, " ");
  });
  return targets;
}

std::string DaemonProcess::ThreadStates() const {
  std::string states;
  ForEachThread(pid_, [&states](const ThreadFiles& thread) {
    // stat's third field (after "(comm)") is the state: R running, S sleeping, D uninterruptible.
    const std::string stat = thread.Read("stat");
    const size_t comm_end = stat.rfind(')');
    const std::string state = comm_end == std::string::npos ? "?" : stat.substr(comm_end + 2, 1);
    absl::StrAppend(&states, thread.name, ": state ", state, ", wchan ", thread.Read("wchan"),
                    ", syscall ", absl::StripTrailingAsciiWhitespace(thread.Read("syscall")), "\n");
    // A VM's threads also with their kernel stack (readable by root only).
    if (absl::StrContains(thread.name, "/vcpu") || absl::StrContains(thread.name, "/worker")) {
      absl::StrAppend(&states, thread.Read("stack"));
    }
  });
  return states;
}

std::string DaemonProcess::ThreadNames() const {
  std::string names;
  ForEachThread(pid_,
                [&names](const ThreadFiles& thread) { absl::StrAppend(&names, thread.name, " "); });
  return names;
}

namespace {

// A "Name: N kB" field of /proc/<pid>/status, in bytes; 0 when absent.
uint64_t StatusFieldBytes(pid_t pid, const char* format) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), format, &kib) == 1) return kib * 1024;
  }
  return 0;
}

}  // namespace

uint64_t DaemonProcess::VirtualMemoryBytes() const { return StatusFieldBytes(pid_, "VmSize: %llu kB"); }
uint64_t DaemonProcess::ResidentMemoryBytes() const { return StatusFieldBytes(pid_, "VmRSS: %llu kB"); }

std::string DaemonProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int WaitForValue(int expected, absl::Duration timeout, const std::function<int()>& probe) {
  const absl::Time deadline = absl::Now() + timeout;
  int value = probe();
  while (value != expected && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    value = probe();
  }
  return value;
}

}  // namespace vmmd::testing
