// What the test inits (PID 1 of the Linux tests' initramfs) share: one console line per check,
// counted, and small files read whole. Define INIT_CHECKS_PREFIX (the line prefix the test
// looks for) before including. Static programs, no libraries beyond libc.
#ifndef VMMD_TESTS_LINUX_INIT_CHECKS_H_
#define VMMD_TESTS_LINUX_INIT_CHECKS_H_

#include <stdio.h>

static int failures;

static void check(const char* name, int ok, const char* detail) {
  printf("%s: check %s: %s (%s)\n", INIT_CHECKS_PREFIX, name, ok ? "PASS" : "FAIL", detail);
  if (!ok) ++failures;
}

// The whole of a small file, NUL-terminated, without one trailing newline; NULL if unreadable.
static char* read_text(const char* path) {
  FILE* file = fopen(path, "r");
  if (file == NULL) return NULL;
  static char buffer[8][8192];
  static int next;
  char* text = buffer[next++ % 8];
  size_t length = fread(text, 1, sizeof(buffer[0]) - 1, file);
  fclose(file);
  text[length] = '\0';
  if (length > 0 && text[length - 1] == '\n') text[length - 1] = '\0';
  return text;
}

#endif  // VMMD_TESTS_LINUX_INIT_CHECKS_H_
