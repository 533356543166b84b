/* How the hostile test guests report: each abuse is announced ("<prefix>abuse: ..."), each
 * observation is a line ("<prefix>  ok: ..." or "<prefix>  UNEXPECTED: ..."), and the last
 * line is "<prefix>N unexpected observations", N also being the exit code on the test-exit
 * port. Define REPORT_PREFIX before including. */
#ifndef VMMD_TESTS_GUEST_GUEST_REPORT_H_
#define VMMD_TESTS_GUEST_GUEST_REPORT_H_

#include "tests/guest/guest_print.h"

#ifndef REPORT_PREFIX
#error "define REPORT_PREFIX before including guest_report.h"
#endif

#define TEST_EXIT_PORT 0xf4 /* devices/test_exit.h */

static u32 unexpected;

static inline void begin(const char* abuse) {
  put_str(REPORT_PREFIX "abuse: ");
  put_str(abuse);
  put_str("\n");
}

static inline void observe(int as_expected, const char* what) {
  put_str(as_expected ? REPORT_PREFIX "  ok: " : REPORT_PREFIX "  UNEXPECTED: ");
  put_str(what);
  put_str("\n");
  if (!as_expected) ++unexpected;
}

/* An observation that a step returning an error string (0: none) succeeded; the error, if
 * any, is printed first. */
static inline void observe_no_error(const char* error, const char* what) {
  if (error) {
    put_str(REPORT_PREFIX "    ");
    put_str(what);
    put_str(": ");
    put_str(error);
    put_str("\n");
  }
  observe(error == 0, what);
}

/* The last line. */
static inline void report_summary(void) {
  put_str(REPORT_PREFIX);
  put_dec(unexpected);
  put_str(" unexpected observations\n");
}

/* The last line, then the exit code: the number of unexpected observations. */
__attribute__((noreturn)) static inline void finish(void) {
  report_summary();
  outl(TEST_EXIT_PORT, unexpected);
  for (;;) __asm__ volatile("cli; hlt"); /* not reached on vmmd */
}

#endif /* VMMD_TESTS_GUEST_GUEST_REPORT_H_ */
