// PID 1 of the block benchmark's Linux guest (bench/block_bench.cc builds the initramfs around
// it, and boots it under vmmd and under QEMU microvm alike). It loads Debian's virtio modules,
// waits for /dev/vda, and measures with O_DIRECT, so that the guest's page cache does not
// hide the device:
//   seq_write  the whole device in 1 MiB writes, then fdatasync
//   seq_read   the whole device in 1 MiB reads
//   rand_read  4 KiB reads at random 4 KiB-aligned offsets, one at a time, for
//              blkbench.random_seconds= (from the command line; 5 by default)
// Each prints "vmmd-blkbench: NAME bytes=B ops=N seconds=S" on the console; any failure
// prints "vmmd-blkbench: error ..." instead. Then "vmmd-blkbench: done failures=N" and
// reboot(2): vmmd (reboot=k) and QEMU (-no-reboot) both stop the guest there.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "bench/guest_init.h"

#define PREFIX "vmmd-blkbench: "

enum { kLargeBlock = 1 << 20, kSmallBlock = 4096 };

static int failures;

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void error(const char* what) {
  printf(PREFIX "error %s: %s\n", what, strerror(errno));
  ++failures;
}

static void report(const char* name, uint64_t bytes, uint64_t ops, double seconds) {
  printf(PREFIX "%s bytes=%llu ops=%llu seconds=%.6f\n", name, (unsigned long long)bytes,
         (unsigned long long)ops, seconds);
}

// A whole-device pass in 1 MiB blocks: writes when `write` is set, reads otherwise.
static void sequential(int fd, uint64_t size, char* buffer, int write) {
  const char* name = write ? "seq_write" : "seq_read";
  uint64_t done = 0, ops = 0;
  const double start = now_seconds();
  while (done + kLargeBlock <= size) {
    ssize_t n = write ? pwrite(fd, buffer, kLargeBlock, (off_t)done) : pread(fd, buffer, kLargeBlock, (off_t)done);
    if (n != kLargeBlock) {
      error(name);
      return;
    }
    done += kLargeBlock;
    ++ops;
  }
  if (write && fdatasync(fd) != 0) {
    error("fdatasync");
    return;
  }
  report(name, done, ops, now_seconds() - start);
}

static void random_reads(int fd, uint64_t size, char* buffer, double seconds) {
  const uint64_t blocks = size / kSmallBlock;
  uint64_t state = 0x9e3779b97f4a7c15ull, ops = 0;
  const double start = now_seconds();
  double now = start;
  while (now - start < seconds) {
    // xorshift64: cheap, and the same sequence under both VMMs.
    for (int i = 0; i < 64; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      if (pread(fd, buffer, kSmallBlock, (off_t)((state % blocks) * kSmallBlock)) != kSmallBlock) {
        error("rand_read");
        return;
      }
      ++ops;
    }
    now = now_seconds();
  }
  report("rand_read", ops * kSmallBlock, ops, now - start);
}

static double cmdline_number(const char* cmdline, const char* key, double fallback) {
  const char* p = strstr(cmdline, key);
  return p == NULL ? fallback : atof(p + strlen(key));
}

int main(void) {
  static char cmdline[4096];
  failures += guest_init_start(PREFIX, cmdline, sizeof(cmdline));
  int fd = -1;
  for (int tries = 0; tries < 1500 && fd < 0; ++tries) {  // up to 30 s for the driver
    fd = open("/dev/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) usleep(20 * 1000);
  }
  uint64_t size = 0;
  char* buffer = NULL;
  if (fd < 0) {
    error("open /dev/vda");
  } else if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
    error("BLKGETSIZE64");
  } else if (posix_memalign((void**)&buffer, 4096, kLargeBlock) != 0) {
    error("posix_memalign");
  } else {
    printf(PREFIX "device bytes=%llu\n", (unsigned long long)size);
    for (size_t i = 0; i < kLargeBlock; ++i) buffer[i] = (char)(i * 131 + 7);
    sequential(fd, size, buffer, 1);
    sequential(fd, size, buffer, 0);
    random_reads(fd, size, buffer, cmdline_number(cmdline, "blkbench.random_seconds=", 5));
  }
  guest_init_finish(PREFIX, failures);
  return 0;
}
