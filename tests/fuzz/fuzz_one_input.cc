#include "tests/fuzz/fuzz_one_input.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  vmmd::fuzz::FuzzOneInput(provider);
  return 0;
}
