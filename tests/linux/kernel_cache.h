// Where the Linux boot tests find Debian's kernels: $VMMD_KERNEL_CACHE, or the directory
// tests/linux/fetch_kernels.sh fills by default (~/.cache/vmmd/kernels of the user running
// the tests: Bazel points $HOME into the test's sandbox, so it is read from the password file).
#ifndef VMMD_TESTS_LINUX_KERNEL_CACHE_H_
#define VMMD_TESTS_LINUX_KERNEL_CACHE_H_

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace vmmd::testing {

inline std::string KernelCache() {
  if (const char* cache = std::getenv("VMMD_KERNEL_CACHE"); cache != nullptr && *cache != '\0') return cache;
  const passwd* user = ::getpwuid(::getuid());
  return user == nullptr ? "" : std::string(user->pw_dir) + "/.cache/vmmd/kernels";
}

// ASSERT_TRUE(KernelsFetched(cache)) before booting them: missing kernels fail, never skip.
inline ::testing::AssertionResult KernelsFetched(const std::string& cache) {
  if (!cache.empty() && ::access((cache + "/VERSION").c_str(), R_OK) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no Debian kernels in '" << cache
                                       << "': run tests/linux/fetch_kernels.sh (tools/test does)";
}

// ASSERT_TRUE(ModulesFetched(cache)) before putting the guest's modules (fetch_kernels.sh's
// modules/, with its load-order file) into an initramfs: missing modules fail, never skip.
inline ::testing::AssertionResult ModulesFetched(const std::string& cache) {
  if (!cache.empty() && ::access((cache + "/modules/load-order").c_str(), R_OK) == 0) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no guest modules in '" << cache
                                       << "/modules': run tests/linux/fetch_kernels.sh (tools/test does)";
}

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_KERNEL_CACHE_H_
