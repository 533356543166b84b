// FUZZ_CHECK: the fuzzers' assertion. A violated invariant prints what was expected and
// abort()s, which libFuzzer reports as a crash (and keeps the input as an artifact), and
// which fails the replay tests. Unlike assert(), it is never compiled out.
#ifndef VMMD_TESTS_FUZZ_FUZZ_CHECK_H_
#define VMMD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(condition, message)                                                   \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n  %s\n", __FILE__, __LINE__, \
                   #condition, std::string(message).c_str());                            \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#endif  // VMMD_TESTS_FUZZ_FUZZ_CHECK_H_
