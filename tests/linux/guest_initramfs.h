// The initramfs of a Linux test guest whose /init loads Debian's modules (guest_init.h):
// /init, /dev/console, the mount points, and the modules of the kernel cache's modules/ with
// their load-order (tests/linux/fetch_kernels.sh writes both).
#ifndef VMMD_TESTS_LINUX_GUEST_INITRAMFS_H_
#define VMMD_TESTS_LINUX_GUEST_INITRAMFS_H_

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/linux/cpio_archive.h"
#include "tests/linux/host_files.h"

namespace vmmd::testing {

// `init`: a runfiles path; `files`: more files of the archive's root, (name, contents). A
// missing init or module fails the test (EXPECT).
inline std::string GuestInitramfs(const std::string& cache, const std::string& init,
                                  const std::vector<std::pair<std::string, std::string>>& files = {}) {
  const std::string program = ReadFile(init);
  EXPECT_FALSE(program.empty()) << "missing " << init;
  CpioArchive archive;
  for (const char* directory : {"dev", "proc", "sys", "modules"}) archive.AddDirectory(directory);
  archive.AddCharDevice("dev/console", 5, 1);
  archive.AddFile("init", program, 0755);
  for (const auto& [name, contents] : files) archive.AddFile(name, contents);
  const std::string order = ReadFile(cache + "/modules/load-order");
  archive.AddFile("modules/load-order", order);
  std::istringstream names(order);
  for (std::string name; std::getline(names, name);) {
    if (name.empty()) continue;
    const std::string module = ReadFile(absl::StrCat(cache, "/modules/", name));
    EXPECT_FALSE(module.empty()) << "missing " << cache << "/modules/" << name;
    archive.AddFile("modules/" + name, module);
  }
  return std::move(archive).Finish();
}

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_GUEST_INITRAMFS_H_
