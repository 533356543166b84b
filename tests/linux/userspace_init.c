// PID 1 of the Linux boot tests (tests/linux/linux_boot_test.cc builds the initramfs around
// it): checks from userspace what vmmd promised the kernel, one line per check, then reboots.
//   cpus     the online CPUs (/sys/devices/system/cpu/online) number the test's vcpu_count
//   cmdline  /proc/cmdline is exactly the command line the test gave ConfigureBoot
//   initrd   /payload, a file of the initramfs, has the length and FNV-1a hash the test wrote
//   memmap   the firmware memory map (/sys/firmware/memmap), one line per entry, for the
//            test to compare with BootInfo's e820
// It also repeats the kernel's early messages the test checks (its e820 map, the MP table,
// the initrd's place), read from the kernel's log: the test boots with `quiet`, since every
// console character costs two VM exits and, in tools/kvm-vm's emulated test VM, a full boot
// log takes a minute to print.
// The expectations come from /expected ("cpus N", "cmdline TEXT", "payload SIZE HASH").
// Then reboot(2) RB_AUTOBOOT, what `reboot -f` does: with reboot=k it reaches the i8042, and
// vmmd stops the VM with reason "guest reset". Static, no libraries: it is the whole userspace.
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/klog.h>
#include <sys/reboot.h>
#include <unistd.h>

#define INIT_CHECKS_PREFIX "vmmd-init"
#include "init_checks.h"

static void check_cmdline(const char* expected) {
  const char* actual = read_text("/proc/cmdline");
  char detail[8192 + 64];
  snprintf(detail, sizeof(detail), "/proc/cmdline \"%s\"", actual ? actual : "unreadable");
  check("cmdline", actual != NULL && strcmp(actual, expected) == 0, detail);
}

static void check_payload(uint64_t expected_size, uint64_t expected_hash) {
  FILE* file = fopen("/payload", "rb");
  uint64_t size = 0, hash = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit
  if (file != NULL) {
    unsigned char block[65536];
    size_t n;
    while ((n = fread(block, 1, sizeof(block), file)) > 0) {
      for (size_t i = 0; i < n; ++i) hash = (hash ^ block[i]) * 0x100000001b3ull;
      size += n;
    }
    fclose(file);
  }
  char detail[256];
  snprintf(detail, sizeof(detail), "/payload %" PRIu64 " bytes, fnv1a64 %016" PRIx64 ", expected %" PRIu64
           " bytes, %016" PRIx64, size, hash, expected_size, expected_hash);
  check("initrd", file != NULL && size == expected_size && hash == expected_hash, detail);
}

static int by_number(const struct dirent** a, const struct dirent** b) {
  return atoi((*a)->d_name) - atoi((*b)->d_name);
}

static void report_memmap(void) {
  struct dirent** entries;
  int n = scandir("/sys/firmware/memmap", &entries, NULL, by_number);
  if (n < 0) {
    check("memmap", 0, "/sys/firmware/memmap unreadable");
    return;
  }
  int reported = 0;
  for (int i = 0; i < n; ++i) {
    if (entries[i]->d_name[0] != '.') {
      char path[300];
      snprintf(path, sizeof(path), "/sys/firmware/memmap/%s/start", entries[i]->d_name);
      const char* start = read_text(path);
      snprintf(path, sizeof(path), "/sys/firmware/memmap/%s/end", entries[i]->d_name);
      const char* end = read_text(path);
      snprintf(path, sizeof(path), "/sys/firmware/memmap/%s/type", entries[i]->d_name);
      const char* type = read_text(path);
      printf("vmmd-init: memmap %s-%s %s\n", start ? start : "?", end ? end : "?", type ? type : "?");
      ++reported;
    }
    free(entries[i]);
  }
  free(entries);
  printf("vmmd-init: memmap entries %d\n", reported);
}

// The kernel's own lines the test wants, as "vmmd-init: kernel: MESSAGE".
static void report_kernel_log(void) {
  static const char* const wanted[] = {"Linux version ", "Command line: ", "BIOS-e820: ",
                                       "found SMP MP-table", "Processors: ", "RAMDISK: "};
  static char log[1 << 20];
  int length = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);
  if (length < 0) {
    check("kernel-log", 0, "klogctl failed");
    return;
  }
  log[length] = '\0';
  for (char* line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    // "<6>[    0.000000] message"
    char* message = strstr(line, "] ");
    message = message == NULL ? line : message + 2;
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); ++i) {
      if (strncmp(message, wanted[i], strlen(wanted[i])) == 0 ||
          (i == 3 && strstr(message, wanted[i]) != NULL)) {
        printf("vmmd-init: kernel: %s\n", message);
        break;
      }
    }
  }
}

int main(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("vmmd-init: reached userspace\n");

  long cpus = -1;
  uint64_t payload_size = 0, payload_hash = 0;
  const char* cmdline = "";
  FILE* expected = fopen("/expected", "r");
  static char line[8192];
  while (expected != NULL && fgets(line, sizeof(line), expected) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "cpus ", 5) == 0) cpus = strtol(line + 5, NULL, 10);
    if (strncmp(line, "cmdline ", 8) == 0) cmdline = strdup(line + 8);
    if (strncmp(line, "payload ", 8) == 0) sscanf(line + 8, "%" SCNu64 " %" SCNx64, &payload_size, &payload_hash);
  }
  if (expected == NULL) check("expected", 0, "no /expected in the initramfs");

  check_cpus(cpus);
  check_cmdline(cmdline);
  check_payload(payload_size, payload_hash);
  report_memmap();
  report_kernel_log();
  printf("vmmd-init: %d checks failed; rebooting\n", failures);
  fflush(stdout);
  sync();
  reboot(RB_AUTOBOOT);
  return 1;  // not reached: PID 1 exiting would panic the kernel
}
