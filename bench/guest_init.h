// The start and the end of a benchmark guest's /init (block_guest.c, network_guest.c): the
// file systems, the command line, Debian's modules, and the last line the host waits for
// before the guest stops. Static programs, libc only.
#ifndef VMMD_BENCH_GUEST_INIT_H_
#define VMMD_BENCH_GUEST_INIT_H_

#include <stdio.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "tests/linux/guest_modules.h"

// Mounts /proc, /sys and /dev, makes stdout line-buffered, reads /proc/cmdline into `cmdline`,
// says "PREFIXreached userspace" and loads /modules (guest_modules.h). Returns 1 (having
// printed "PREFIXerror modules: ...") when a module failed to load, else 0.
static int guest_init_start(const char* prefix, char* cmdline, int size) {
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  cmdline[0] = '\0';
  FILE* file = fopen("/proc/cmdline", "r");
  if (file != NULL) {
    if (fgets(cmdline, size, file) == NULL) cmdline[0] = '\0';
    fclose(file);
  }
  printf("%sreached userspace\n", prefix);
  struct guest_modules modules = load_guest_modules(cmdline);
  if (modules.failed == 0) return 0;
  printf("%serror modules: %s\n", prefix, modules.first_error);
  return 1;
}

// Says "PREFIXdone failures=N" and stops the guest: reboot(2), which vmmd (reboot=k) and QEMU
// (-no-reboot) both take as the end of the VM.
static void guest_init_finish(const char* prefix, int failures) {
  printf("%sdone failures=%d\n", prefix, failures);
  sync();
  reboot(RB_AUTOBOOT);
}

#endif  // VMMD_BENCH_GUEST_INIT_H_
