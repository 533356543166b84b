// Writes one seed of a fuzzer's corpus: what each seed generator's main ends with.
#ifndef VMMD_TESTS_FUZZ_SEED_FILE_H_
#define VMMD_TESTS_FUZZ_SEED_FILE_H_

#include <cstdio>
#include <string>

namespace vmmd::fuzz {

// Writes `bytes` to DIR/NAME; false, having said so on stderr as `program`, if it cannot.
inline bool WriteSeedFile(const char* program, const std::string& dir, const std::string& name,
                          const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
      std::fclose(f) != 0) {
    std::fprintf(stderr, "%s: cannot write %s\n", program, path.c_str());
    return false;
  }
  return true;
}

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_SEED_FILE_H_
