// The entry point of the fuzzers that read their whole input through FuzzedDataProvider
// (virtqueue_fuzzer, the virtio device fuzzers): each defines FuzzOneInput, and
// fuzz_one_input.cc's LLVMFuzzerTestOneInput hands it every input, so that the fuzzer's code
// stays in its own namespace.
#ifndef VMMD_TESTS_FUZZ_FUZZ_ONE_INPUT_H_
#define VMMD_TESTS_FUZZ_FUZZ_ONE_INPUT_H_

#include <fuzzer/FuzzedDataProvider.h>

namespace vmmd::fuzz {

// One input; a violated invariant aborts (FUZZ_CHECK).
void FuzzOneInput(FuzzedDataProvider& provider);

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_FUZZ_ONE_INPUT_H_
