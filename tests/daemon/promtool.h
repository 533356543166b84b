// Prometheus's own checker, for tests: `promtool check metrics` reads a page and reports what
// a scraper would refuse and what breaks Prometheus's naming conventions (tools/setup.sh
// unpacks it from Debian's prometheus package into ~/.cache/vmmd/promtool).
#ifndef VMMD_TESTS_DAEMON_PROMTOOL_H_
#define VMMD_TESTS_DAEMON_PROMTOOL_H_

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/linux/host_command.h"
#include "tests/linux/host_files.h"

namespace vmmd::testing {

// $VMMD_PROMTOOL, else the one tools/setup.sh unpacked (Bazel moves $HOME, so the home comes
// from the password file), else /usr/bin/promtool; empty when there is none.
inline std::string PromtoolPath() {
  if (const char* path = std::getenv("VMMD_PROMTOOL"); path != nullptr && *path != '\0') return path;
  if (const passwd* user = ::getpwuid(::getuid()); user != nullptr) {
    std::string cached = absl::StrCat(user->pw_dir, "/.cache/vmmd/promtool/promtool");
    if (::access(cached.c_str(), X_OK) == 0) return cached;
  }
  return FindTool("promtool");
}

// Runs `promtool check metrics` on `page`: exit status 0 and nothing on stderr mean it passed.
inline CommandResult PromtoolCheckMetrics(const std::string& page) {
  const std::string promtool = PromtoolPath();
  if (promtool.empty()) return CommandResult{-1, "", "no promtool: run tools/setup.sh"};
  static int next;
  const std::string file = absl::StrCat(TempDir(), "/page-", ::getpid(), "-", next++, ".txt");
  if (!WriteFile(file, page)) return CommandResult{-1, "", "cannot write " + file};
  return RunCommand({"/bin/sh", "-c", absl::StrCat("exec '", promtool, "' check metrics < '", file, "'")});
}

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_DAEMON_PROMTOOL_H_
