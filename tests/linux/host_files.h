// Whole files on the host side of the Linux tests: read, written, and hashed as the guests'
// inits hash what they read (userspace_init, drive_init: FNV-1a, 64-bit), so that a test can
// compare the two.
#ifndef VMMD_TESTS_LINUX_HOST_FILES_H_
#define VMMD_TESTS_LINUX_HOST_FILES_H_

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace vmmd::testing {

// The whole file; empty when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Replaces the file with `contents`; false when that failed.
inline bool WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file << contents;
  return file.good();
}

inline uint64_t Fnv1a64(const std::string& bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char byte : bytes) hash = (hash ^ byte) * 0x100000001b3ull;
  return hash;
}

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_LINUX_HOST_FILES_H_
