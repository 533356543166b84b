// PID 1 of the ACPI tests (tests/linux/linux_acpi_test.cc builds the initramfs around it):
// checks from userspace what a kernel learnt from vmmd's ACPI tables alone, then powers off.
//   cpus    the online CPUs (/sys/devices/system/cpu/online) number the test's vcpu_count:
//           the cloud kernel has no MP-table parser, so only the MADT can have told it
//   tables  Linux exposes the tables it parsed (/sys/firmware/acpi/tables: DSDT, FACP, APIC)
//   drive   (when /expected names one) with Debian's modules loaded and nothing on the
//           command line, virtio_mmio binds the DSDT's LNRO0005 device and /dev/vda's first
//           4 KiB have the FNV-1a hash the test wrote
// Then it repeats the kernel's ACPI lines (the test boots `quiet`) and calls reboot(2)
// RB_POWER_OFF, what `poweroff -f` does: Linux enters S5 through the FADT's sleep control
// register, and vmmd stops the VM with reason "guest poweroff".
// /expected: "cpus N", and "drive HASH" (16 hex digits) when the VM has a drive.
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#define INIT_CHECKS_PREFIX "vmmd-acpi"
#include "guest_init.h"

static void check_tables(void) {
  static const char* const kTables[] = {"DSDT", "FACP", "APIC"};
  for (size_t i = 0; i < sizeof(kTables) / sizeof(kTables[0]); ++i) {
    char path[64], detail[128];
    snprintf(path, sizeof(path), "/sys/firmware/acpi/tables/%s", kTables[i]);
    const int found = access(path, R_OK) == 0;
    snprintf(detail, sizeof(detail), "%s %s", path, found ? "present" : "missing");
    check("tables", found, detail);
  }
}

static void check_drive(uint64_t expected_hash) {
  const char* cmdline = read_text("/proc/cmdline");
  check("drive", cmdline != NULL && strstr(cmdline, "virtio_mmio.device=") == NULL,
        "the command line names no virtio-mmio device");
  load_modules("");
  double waited;
  int found = wait_for("/sys/bus/platform/devices/LNRO0005:00/driver", NULL, &waited);
  char detail[256];
  snprintf(detail, sizeof(detail), "LNRO0005:00 bound to a driver %s %.2f s", found ? "after" : "not within",
           waited);
  check("drive", found, detail);
  found = wait_for("/dev/vda", NULL, &waited);
  snprintf(detail, sizeof(detail), "/dev/vda %s after %.2f s", found ? "appeared" : "missing", waited);
  check("drive", found, detail);
  unsigned char sector[4096];
  const int fd = open("/dev/vda", O_RDONLY | O_CLOEXEC);
  const ssize_t n = fd < 0 ? -1 : read(fd, sector, sizeof(sector));
  if (fd >= 0) close(fd);
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit
  for (ssize_t i = 0; i < n; ++i) hash = (hash ^ sector[i]) * 0x100000001b3ull;
  snprintf(detail, sizeof(detail), "/dev/vda's first %zd bytes: fnv1a64 %016" PRIx64 ", expected %016" PRIx64,
           n, hash, expected_hash);
  check("drive", n == (ssize_t)sizeof(sector) && hash == expected_hash, detail);
}

int main(void) {
  start_init();
  long cpus = -1;
  uint64_t drive_hash = 0;
  int has_drive = 0;
  FILE* expected = fopen("/expected", "r");
  char line[256];
  while (expected != NULL && fgets(line, sizeof(line), expected) != NULL) {
    if (strncmp(line, "cpus ", 5) == 0) cpus = strtol(line + 5, NULL, 10);
    if (strncmp(line, "drive ", 6) == 0) has_drive = sscanf(line + 6, "%" SCNx64, &drive_hash) == 1;
  }
  if (expected == NULL) check("expected", 0, "no /expected in the initramfs");

  check_cpus(cpus);
  check_tables();
  if (has_drive) check_drive(drive_hash);

  static const char* const kWanted[] = {"Linux version ", "ACPI: RSDP", "ACPI: XSDT", "ACPI: FACP", "ACPI: DSDT",
                                        "ACPI: APIC", "Using ACPI", "smp: Brought up"};
  report_kernel_log(kWanted, sizeof(kWanted) / sizeof(kWanted[0]));
  printf("%s: %d checks failed; powering off\n", INIT_CHECKS_PREFIX, failures);
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  return 1;  // not reached: PID 1 exiting would panic the kernel
}
