// PID 1 of the drive test (tests/linux/linux_drive_test.cc builds the initramfs around it):
// uses vmmd's virtio-mmio devices through Debian's own drivers, one console line per check,
// then reboots. The initramfs holds /modules (tests/linux/fetch_kernels.sh's modules/ and its
// load-order file) and /expected ("drive NAME SERIAL SECTORS RO" lines: what /sys/block/NAME
// must say). In order:
//   modules   each file of /modules/load-order loaded with finit_module(2); the last one,
//             virtio_mmio_cmdline.ko, gets /proc/cmdline's virtio_mmio.device= values (it
//             stands in for CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, which Debian's kernels lack)
//   devices   /dev/vda, /dev/vdb and /dev/hwrng appear (devtmpfs), and the virtio rng becomes
//             hw_random's current source, each within 30 s
//   cmdline   /proc/cmdline holds root=/dev/vda rw (vmmd's part for the root drive)
//   drive     /sys/block/NAME: serial (the drive_id, VIRTIO_BLK_T_GET_ID), size, ro
//   mount     /dev/vda read-write and /dev/vdb read-only, both ext4
//   given     /mnt/root/given.txt read back: "given HASH (N bytes)" for the test to compare
//   second    /mnt/second/second.txt likewise
//   hwrng     64 bytes of /dev/hwrng, printed in hex, not all zero, and rng_current names the
//             virtio driver
//   written   /mnt/root/written.txt written (the hwrng line, then a pattern the test knows),
//             fsync'd
//   readonly  creating a file on the read-only mount fails with EROFS
//   unmount   sync, then both unmounted (the journal checkpointed into the image)
// Then "N checks failed; rebooting" and reboot(2) RB_AUTOBOOT: with reboot=k vmmd stops the
// VM with "guest reset". When a check failed, the kernel's lines about these devices are
// repeated from its log first (the test boots `quiet`). Static, no libraries.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INIT_CHECKS_PREFIX "vmmd-drive"
#include "guest_init.h"

static void wait_for_devices(void) {
  static const char* const kPaths[] = {"/dev/vda", "/dev/vdb", "/dev/hwrng"};
  char detail[256];
  for (size_t i = 0; i < sizeof(kPaths) / sizeof(kPaths[0]); ++i) {
    double waited;
    int found = wait_for(kPaths[i], NULL, &waited);
    snprintf(detail, sizeof(detail), "%s %s after %.2f s", kPaths[i], found ? "appeared" : "missing", waited);
    check("devices", found, detail);
  }
  // /dev/hwrng belongs to the hw_random core (built in); the virtio driver is a provider of it.
  double waited;
  int found = wait_for("/sys/class/misc/hw_random/rng_current", "virtio", &waited);
  snprintf(detail, sizeof(detail), "rng_current names virtio %s %.2f s", found ? "after" : "not within", waited);
  check("devices", found, detail);
}

// Whether `cmdline` holds the whitespace-separated words of `words` in a row.
static int has_words(const char* cmdline, const char* words) {
  size_t length = strlen(words);
  for (const char* p = cmdline; (p = strstr(p, words)) != NULL; ++p) {
    if ((p == cmdline || p[-1] == ' ') && (p[length] == '\0' || p[length] == ' ' || p[length] == '\n')) {
      return 1;
    }
  }
  return 0;
}

// /expected's "drive NAME SERIAL SECTORS RO" lines against /sys/block/NAME.
static void check_drives(void) {
  FILE* expected = fopen("/expected", "r");
  if (expected == NULL) {
    check("drive", 0, "no /expected in the initramfs");
    return;
  }
  char line[512], name[64], serial[64], path[128], detail[512];
  unsigned long long sectors;
  int ro;
  while (fgets(line, sizeof(line), expected) != NULL) {
    if (sscanf(line, "drive %63s %63s %llu %d", name, serial, &sectors, &ro) != 4) continue;
    snprintf(path, sizeof(path), "/sys/block/%s/serial", name);
    const char* actual_serial = read_text(path);
    snprintf(path, sizeof(path), "/sys/block/%s/size", name);
    const char* actual_size = read_text(path);
    snprintf(path, sizeof(path), "/sys/block/%s/ro", name);
    const char* actual_ro = read_text(path);
    snprintf(detail, sizeof(detail), "%s: serial \"%s\" size %s ro %s; expected \"%s\" %llu %d", name,
             actual_serial ? actual_serial : "?", actual_size ? actual_size : "?",
             actual_ro ? actual_ro : "?", serial, sectors, ro);
    check("drive",
          actual_serial != NULL && strcmp(actual_serial, serial) == 0 && actual_size != NULL &&
              strtoull(actual_size, NULL, 10) == sectors && actual_ro != NULL && atoi(actual_ro) == ro,
          detail);
  }
  fclose(expected);
}

// FNV-1a, 64-bit, of a whole file; -1 size when unreadable.
static void hash_file(const char* path, uint64_t* hash, long long* size) {
  *hash = 0xcbf29ce484222325ull;
  *size = -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  static unsigned char block[65536];
  long long total = 0;
  ssize_t n;
  while ((n = read(fd, block, sizeof(block))) > 0) {
    for (ssize_t i = 0; i < n; ++i) *hash = (*hash ^ block[i]) * 0x100000001b3ull;
    total += n;
  }
  close(fd);
  if (n == 0) *size = total;
}

static void report_file(const char* name, const char* path) {
  uint64_t hash;
  long long size;
  hash_file(path, &hash, &size);
  printf("vmmd-drive: %s %016" PRIx64 " (%lld bytes)\n", name, hash, size);
  char detail[256];
  snprintf(detail, sizeof(detail), "%s: %lld bytes read", path, size);
  check(name, size > 0, detail);
}

// 64 bytes of /dev/hwrng as hex, into `hex` (129 bytes); whether they could be read.
static int read_hwrng(char* hex) {
  unsigned char bytes[64];
  size_t got = 0;
  hex[0] = '\0';
  int fd = open("/dev/hwrng", O_RDONLY | O_CLOEXEC);
  while (fd >= 0 && got < sizeof(bytes)) {
    ssize_t n = read(fd, bytes + got, sizeof(bytes) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  int error = errno;
  if (fd >= 0) close(fd);
  char detail[256];
  if (got < sizeof(bytes)) {
    snprintf(detail, sizeof(detail), "/dev/hwrng: %zu of 64 bytes (%s)", got, strerror(error));
    check("hwrng", 0, detail);
    return 0;
  }
  int nonzero = 0;
  for (size_t i = 0; i < sizeof(bytes); ++i) {
    snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    nonzero |= bytes[i] != 0;
  }
  printf("vmmd-drive: hwrng %s\n", hex);
  check("hwrng", nonzero, nonzero ? "64 bytes, not all zero" : "64 zero bytes");
  const char* current = read_text("/sys/class/misc/hw_random/rng_current");
  snprintf(detail, sizeof(detail), "rng_current \"%s\"", current ? current : "unreadable");
  check("hwrng-current", current != NULL && strstr(current, "virtio") != NULL, detail);
  return nonzero;
}

// written.txt: "hwrng HEX\n", then lines the test generates too (enough for many requests).
static void write_file(const char* hex) {
  int fd = open("/mnt/root/written.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  char detail[256];
  if (fd < 0) {
    snprintf(detail, sizeof(detail), "open: %s", strerror(errno));
    check("written", 0, detail);
    return;
  }
  static char text[256 * 1024];
  size_t length = (size_t)snprintf(text, sizeof(text), "hwrng %s\n", hex);
  for (int i = 0; i < 4096; ++i) {
    length += (size_t)snprintf(text + length, sizeof(text) - length, "line %04d of written.txt\n", i);
  }
  ssize_t n = write(fd, text, length);
  int error = errno;
  int synced = fsync(fd) == 0;
  int closed = close(fd) == 0;
  snprintf(detail, sizeof(detail), "%zd of %zu bytes written%s%s%s", n, length, n < 0 ? ": " : "",
           n < 0 ? strerror(error) : "", synced && closed ? ", fsync'd" : ", fsync or close failed");
  check("written", n == (ssize_t)length && synced && closed, detail);
  int dir = open("/mnt/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
}

static void check_read_only(void) {
  int fd = open("/mnt/second/forbidden.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int error = errno;
  char detail[256];
  snprintf(detail, sizeof(detail), "creating /mnt/second/forbidden.txt: %s",
           fd >= 0 ? "succeeded" : strerror(error));
  check("readonly", fd < 0 && error == EROFS, detail);
  if (fd >= 0) close(fd);
}

// The kernel's lines about the devices and modules.
static const char* const kKernelWords[] = {"virtio", "vda", "vdb", "EXT4", "ext4", "jbd2", "hwrng",
                                           "hw_random", "module", "taint", "irq", "IRQ"};

int main(void) {
  start_init();

  const char* cmdline_text = read_text("/proc/cmdline");
  char* cmdline = strdup(cmdline_text ? cmdline_text : "");
  load_modules(cmdline);
  wait_for_devices();
  char detail[8192 + 64];
  snprintf(detail, sizeof(detail), "/proc/cmdline \"%s\"", cmdline);
  check("cmdline", has_words(cmdline, "root=/dev/vda rw"), detail);
  check_drives();

  mkdir("/mnt", 0755);
  mkdir("/mnt/root", 0755);
  mkdir("/mnt/second", 0755);
  int root_mounted = mount("/dev/vda", "/mnt/root", "ext4", 0, NULL) == 0;
  snprintf(detail, sizeof(detail), "/dev/vda on /mnt/root rw: %s", root_mounted ? "ok" : strerror(errno));
  check("mount", root_mounted, detail);
  int second_mounted = mount("/dev/vdb", "/mnt/second", "ext4", MS_RDONLY, NULL) == 0;
  snprintf(detail, sizeof(detail), "/dev/vdb on /mnt/second ro: %s", second_mounted ? "ok" : strerror(errno));
  check("mount", second_mounted, detail);

  if (root_mounted) report_file("given", "/mnt/root/given.txt");
  if (second_mounted) report_file("second", "/mnt/second/second.txt");
  char hex[129];
  int have_random = read_hwrng(hex);
  if (root_mounted && have_random) write_file(hex);
  if (second_mounted) check_read_only();

  sync();
  if (root_mounted) {
    int ok = umount("/mnt/root") == 0;
    snprintf(detail, sizeof(detail), "/mnt/root: %s", ok ? "ok" : strerror(errno));
    check("unmount", ok, detail);
  }
  if (second_mounted) {
    int ok = umount("/mnt/second") == 0;
    snprintf(detail, sizeof(detail), "/mnt/second: %s", ok ? "ok" : strerror(errno));
    check("unmount", ok, detail);
  }
  finish_init(kKernelWords, sizeof(kKernelWords) / sizeof(kKernelWords[0]));
  return 1;  // not reached: PID 1 exiting would panic the kernel
}
