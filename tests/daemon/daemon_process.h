// DaemonProcess: the real vmmd binary as a child process on a temporary Unix socket, with an
// image root holding the test guests, for end-to-end tests.
#ifndef VMMD_TESTS_DAEMON_DAEMON_PROCESS_H_
#define VMMD_TESTS_DAEMON_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace vmmd::testing {

class DaemonProcess {
 public:
  // Starts `binary` (a runfiles path) with --listen on a socket in a fresh temporary
  // directory and --image_root on <dir>/images, into which `images` (runfiles paths) are
  // copied. Waits (bounded) until the socket accepts connections.
  // An --image_root in `extra_flags` is added to that one. `environment` entries
  // ("NAME=value") are added to the daemon's environment.
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(
      const std::string& binary, const std::vector<std::string>& images,
      const std::vector<std::string>& extra_flags = {},
      const std::vector<std::string>& environment = {});

  ~DaemonProcess();  // SIGKILL if still running, and removes the directory

  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_path_; }
  std::string target() const { return "unix:" + socket_path_; }
  // Absolute path of an image copied into the image root, by its file name.
  std::string ImagePath(const std::string& file_name) const { return image_root_ + "/" + file_name; }
  const std::string& image_root() const { return image_root_; }
  const std::string& log_path() const { return log_path_; }

  std::shared_ptr<grpc::Channel> Connect() const;

  // Sends SIGTERM and waits up to `timeout` for the exit status (as from waitpid).
  absl::StatusOr<int> Terminate(absl::Duration timeout);

  // Open descriptors and threads of the daemon, from /proc.
  int OpenFdCount() const;  // under TSan, without the runtime's symbolizer pipes
  int ThreadCount() const;
  std::string ThreadNames() const;  // "name name ...", for failure messages
  // A line per thread: its name, state, kernel wait channel and system call
  // (/proc/<pid>/task/<tid>/syscall: number and arguments, "running" when in user space),
  // to show where a hung guest's threads are.
  std::string ThreadStates() const;
  // Threads VMs own: their workers ("<id>/worker") and vCPUs ("<id>/vcpuN").
  int VmThreadCount() const;
  std::string OpenFdTargets() const;  // "3=socket:[1234] 4=anon_inode:[eventfd] ...", likewise
  // VmSize from /proc/<pid>/status: every mapping, guest RAM included, in bytes.
  uint64_t VirtualMemoryBytes() const;
  // VmRSS from /proc/<pid>/status: what is resident, guest pages the guests touched included.
  uint64_t ResidentMemoryBytes() const;
  std::string Log() const;  // what the daemon wrote to stderr

 private:
  DaemonProcess() = default;
  pid_t pid_ = -1;
  std::string directory_;
  std::string socket_path_;
  std::string image_root_;
  std::string log_path_;
};

// Waits until `probe` returns `expected` or `timeout` passes; returns the last value seen.
// For quantities that settle (threads exiting, fds closing), not for timing assertions.
int WaitForValue(int expected, absl::Duration timeout, const std::function<int()>& probe);

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_DAEMON_DAEMON_PROCESS_H_
