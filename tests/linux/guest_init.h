// What the Linux tests' module-loading inits (drive_init, network_init) share: the start of
// PID 1, the modules loaded and checked, and the kernel's own lines repeated on the console
// when a check failed (the tests boot `quiet`). Define INIT_CHECKS_PREFIX (the line prefix
// the test looks for) before including. Static programs, libc only.
#ifndef VMMD_TESTS_LINUX_GUEST_INIT_H_
#define VMMD_TESTS_LINUX_GUEST_INIT_H_

#include <stdio.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include "guest_modules.h"
#include "init_checks.h"

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// /proc, /sys and /dev (devtmpfs) mounted, the console line-buffered, and the line the
// tests time the boot by.
static void start_init(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("%s: reached userspace\n", INIT_CHECKS_PREFIX);
}

// Whether `path` exists and, when `want` is given, holds it; polled for up to 30 s.
static inline int wait_for(const char* path, const char* want, double* waited) {
  const double start = now_seconds();
  for (;;) {
    if (access(path, F_OK) == 0) {
      const char* text = want == NULL ? "" : read_text(path);
      if (want == NULL || (text != NULL && strstr(text, want) != NULL)) break;
    }
    if (now_seconds() - start > 30) {
      *waited = now_seconds() - start;
      return 0;
    }
    usleep(20 * 1000);
  }
  *waited = now_seconds() - start;
  return 1;
}

// The "modules" check: every module of /modules/load-order loaded (guest_modules.h).
static void load_modules(const char* cmdline) {
  struct guest_modules modules = load_guest_modules(cmdline);
  if (modules.device_params[0] != '\0') {
    printf("%s: virtio_mmio_cmdline.ko %s\n", INIT_CHECKS_PREFIX, modules.device_params);
  }
  if (modules.failed != 0) check("module", 0, modules.first_error);
  char detail[64];
  snprintf(detail, sizeof(detail), "%d loaded, %d failed", modules.loaded, modules.failed);
  check("modules", modules.failed == 0 && modules.loaded > 0, detail);
}

// The kernel's lines that hold any of `wanted`, as "PREFIX: kernel: MESSAGE" (at most 80).
static void report_kernel_log(const char* const* wanted, size_t count) {
  static char log[1 << 20];
  int length = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);
  if (length < 0) return;
  log[length] = '\0';
  int printed = 0;
  for (char* line = strtok(log, "\n"); line != NULL && printed < 80; line = strtok(NULL, "\n")) {
    char* message = strstr(line, "] ");
    message = message == NULL ? line : message + 2;
    for (size_t i = 0; i < count; ++i) {
      if (strstr(message, wanted[i]) != NULL) {
        printf("%s: kernel: %s\n", INIT_CHECKS_PREFIX, message);
        ++printed;
        break;
      }
    }
  }
}

// The end of PID 1: the kernel's lines holding any of `wanted` when a check failed, then
// "N checks failed; rebooting" and reboot(2) RB_AUTOBOOT (with reboot=k vmmd stops the VM
// with "guest reset").
static inline void finish_init(const char* const* wanted, size_t count) {
  if (failures > 0) report_kernel_log(wanted, count);
  printf("%s: %d checks failed; rebooting\n", INIT_CHECKS_PREFIX, failures);
  fflush(stdout);
  sync();
  reboot(RB_AUTOBOOT);
}

#endif  // VMMD_TESTS_LINUX_GUEST_INIT_H_
