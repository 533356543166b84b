// Host programs the Linux tests run (mkfs.ext4, debugfs, ip): found where a test's PATH may
// not look, run with stdout and stderr kept apart, and described when they fail.
#ifndef VMMD_TESTS_LINUX_HOST_COMMAND_H_
#define VMMD_TESTS_LINUX_HOST_COMMAND_H_

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/linux/host_files.h"

namespace vmmd::testing {

// The path of tool `name` in /usr/sbin, /sbin, /usr/bin or /bin (e2fsprogs' and iproute2's
// tools live in the sbin directories, which a test's PATH may lack); empty when none.
inline std::string FindTool(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string path = absl::StrCat(dir, "/", name);
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

inline std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

struct CommandResult {
  int exit_status = -1;  // -1: it did not run or did not exit normally
  std::string out, err;
};

// Runs argv[0] (a path) with argv, stdout and stderr kept apart.
inline CommandResult RunCommand(const std::vector<std::string>& argv) {
  static int next;
  const std::string out_path = absl::StrCat(TempDir(), "/command-", ::getpid(), "-", next, ".out");
  const std::string err_path = absl::StrCat(TempDir(), "/command-", ::getpid(), "-", next++, ".err");
  CommandResult result;
  const pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) ::_exit(126);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_status = WEXITSTATUS(status);
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return result;
}

inline std::string Describe(const std::vector<std::string>& argv, const CommandResult& result) {
  return absl::StrCat(absl::StrJoin(argv, " "), " exited ", result.exit_status, "; stderr: ", result.err);
}

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_HOST_COMMAND_H_
