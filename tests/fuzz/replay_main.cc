// main() for fuzzers built without libFuzzer (gcc, or any build but --config=fuzz): runs each
// file named on the command line, and each regular file in each directory named, through
// LLVMFuzzerTestOneInput, then the empty input. A fuzzer's invariant failure abort()s, which
// fails the run. No input at all is an error too: a seed corpus that went missing must not
// pass as an empty success.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional, as with libFuzzer.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

// libFuzzer hands even an empty input over as a valid pointer.
const uint8_t kEmpty[1] = {0};

bool IsDirectory(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// The regular files directly in `directory`, sorted, so runs are reproducible.
std::vector<std::string> FilesIn(const std::string& directory) {
  std::vector<std::string> files;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return files;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string path = directory + "/" + entry->d_name;
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) files.push_back(path);
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());
  return files;
}

bool ReadFile(const std::string& path, std::vector<uint8_t>* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!arg.empty() && arg[0] == '-') continue;  // libFuzzer flags mean nothing here
    if (IsDirectory(arg)) {
      std::vector<std::string> files = FilesIn(arg);
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else {
      inputs.push_back(arg);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs given; usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
    return 2;
  }
  for (const std::string& path : inputs) {
    std::vector<uint8_t> bytes;
    if (!ReadFile(path, &bytes)) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 1;
    }
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
    // A copy of exactly the input's size, so that ASan catches reads past its end.
    std::vector<uint8_t> exact(bytes);
    LLVMFuzzerTestOneInput(exact.empty() ? kEmpty : exact.data(), exact.size());
  }
  LLVMFuzzerTestOneInput(kEmpty, 0);
  std::fprintf(stderr, "replay: %zu inputs and the empty input passed\n", inputs.size());
  return 0;
}
