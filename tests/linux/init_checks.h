// What the test inits (PID 1 of the Linux tests' initramfs) share: one console line per check,
// counted, and small files read whole. Define INIT_CHECKS_PREFIX (the line prefix the test
// looks for) before including. Static programs, no libraries beyond libc.
#ifndef VMMD_TESTS_LINUX_INIT_CHECKS_H_
#define VMMD_TESTS_LINUX_INIT_CHECKS_H_

#include <stdio.h>
#include <stdlib.h>

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

// "0-1,3" -> 3.
static inline int count_cpus(const char* list) {
  int count = 0;
  for (const char* p = list; *p != '\0';) {
    char* end;
    long first = strtol(p, &end, 10), last = first;
    if (end == p) return -1;
    if (*end == '-') {
      p = end + 1;
      last = strtol(p, &end, 10);
      if (end == p) return -1;
    }
    count += (int)(last - first + 1);
    p = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') return -1;
  }
  return count;
}

// The "cpus" check: the online CPUs number `expected`.
static inline void check_cpus(long expected) {
  const char* online = read_text("/sys/devices/system/cpu/online");
  char detail[256];
  int count = online == NULL ? -1 : count_cpus(online);
  snprintf(detail, sizeof(detail), "online %s: %d, expected %ld", online ? online : "unreadable", count,
           expected);
  check("cpus", count == expected, detail);
}

#endif  // VMMD_TESTS_LINUX_INIT_CHECKS_H_
