// Whether a test may hold the daemon to a memory bound. The daemon under test is built like
// the test: under a sanitizer its resident memory holds the sanitizer's own shadow, redzones,
// quarantine and history, so memory bounds hold only without one (the tests then print
// what they measured instead). kSanitizedBuild: the same question, for tests that move less
// data through a sanitized daemon (every byte costs it several times as much).
#ifndef VMMD_TESTS_DAEMON_MEMORY_BOUNDS_H_
#define VMMD_TESTS_DAEMON_MEMORY_BOUNDS_H_

namespace vmmd::testing {

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VMMD_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VMMD_SANITIZED 1
#endif
#ifdef VMMD_SANITIZED
inline constexpr bool kMemoryBoundsApply = false;
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kMemoryBoundsApply = true;
inline constexpr bool kSanitizedBuild = false;
#endif

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_DAEMON_MEMORY_BOUNDS_H_
