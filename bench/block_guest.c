// PID 1 of the block benchmark's Linux guest (bench/block_bench.cc builds the initramfs around
// it, and boots it under vmmd and under QEMU microvm at once). It loads Debian's virtio
// modules, waits for its two drives (the data drive, and a control drive of one 4 KiB block
// through which the host paces it), and measures the data drive with O_DIRECT, so that the
// guest's page cache does not hide the device, blkbench.rounds= times:
//   seq_write  the whole device in 1 MiB writes, then fdatasync
//   seq_read   the whole device in 1 MiB reads
//   rand_read  4 KiB reads at random 4 KiB-aligned offsets, one at a time, for
//              blkbench.random_seconds= (from the command line; 5 by default)
// Each of these steps (numbered from 1) waits for the host's go: the control drive's first
// sector reading "go N" with N at least the step's number ("stop" ends the run). The guest
// polls it every 20 ms; the host lets one guest work at a time. A step's result goes to the
// control drive's second sector and to the console, as "vmmd-blkbench: step=N NAME bytes=B
// ops=N seconds=S"; any failure prints "vmmd-blkbench: error ..." instead. Then
// "vmmd-blkbench: done failures=N" and reboot(2): vmmd (reboot=k) and QEMU (-no-reboot) both
// stop the guest there.
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

enum { kLargeBlock = 1 << 20, kSmallBlock = 4096, kSector = 512 };

static int failures;
static int control = -1;  // the control drive, O_DIRECT
static char* control_buffer;  // one aligned block for it
static int step;  // the step running, from 1

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void error(const char* what) {
  printf(PREFIX "error %s: %s\n", what, strerror(errno));
  ++failures;
}

// The step's result, on the console and in the control drive's second sector.
static void report(const char* name, uint64_t bytes, uint64_t ops, double seconds) {
  memset(control_buffer, 0, kSector);
  snprintf(control_buffer, kSector, PREFIX "step=%d %s bytes=%llu ops=%llu seconds=%.6f\n", step, name,
           (unsigned long long)bytes, (unsigned long long)ops, seconds);
  printf("%s", control_buffer);
  if (pwrite(control, control_buffer, kSector, kSector) != kSector) error("writing the control drive");
}

// Waits (up to 10 minutes) for the host's go for step `next`; 0 when it came, -1 on "stop",
// a timeout or an error.
static int wait_for_go(int next) {
  for (int polls = 0; polls < 30000; ++polls) {
    if (pread(control, control_buffer, kSector, 0) != kSector) {
      error("reading the control drive");
      return -1;
    }
    if (strncmp(control_buffer, "stop", 4) == 0) return -1;
    if (strncmp(control_buffer, "go ", 3) == 0 && atoi(control_buffer + 3) >= next) return 0;
    usleep(20 * 1000);
  }
  errno = ETIMEDOUT;
  error("waiting for the host's go");
  return -1;
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

// The data drive (O_RDWR | O_DIRECT) and the control drive (the one of a single block) among
// vda and vdb, and the data drive's size, waiting up to 30 s for the driver; -1 on failure.
static int open_drives(int* data, uint64_t* size) {
  int fds[2] = {-1, -1};
  const char* names[2] = {"/dev/vda", "/dev/vdb"};
  for (int tries = 0; tries < 1500 && (fds[0] < 0 || fds[1] < 0); ++tries) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0) fds[i] = open(names[i], O_RDWR | O_DIRECT | O_CLOEXEC);
    }
    if (fds[0] < 0 || fds[1] < 0) usleep(20 * 1000);
  }
  uint64_t sizes[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    if (fds[i] < 0 || ioctl(fds[i], BLKGETSIZE64, &sizes[i]) != 0) {
      error(names[i]);
      return -1;
    }
  }
  const int data_index = sizes[0] > sizes[1] ? 0 : 1;
  *data = fds[data_index];
  *size = sizes[data_index];
  control = fds[1 - data_index];
  return 0;
}

int main(void) {
  static char cmdline[4096];
  failures += guest_init_start(PREFIX, cmdline, sizeof(cmdline));
  int fd = -1;
  uint64_t size = 0;
  char* buffer = NULL;
  if (posix_memalign((void**)&buffer, 4096, kLargeBlock) != 0 ||
      posix_memalign((void**)&control_buffer, 4096, kSmallBlock) != 0) {
    error("posix_memalign");
  } else if (open_drives(&fd, &size) == 0) {
    printf(PREFIX "device bytes=%llu\n", (unsigned long long)size);
    for (size_t i = 0; i < kLargeBlock; ++i) buffer[i] = (char)(i * 131 + 7);
    const int rounds = (int)cmdline_number(cmdline, "blkbench.rounds=", 1);
    for (int round = 0; round < rounds && failures == 0; ++round) {
      if (wait_for_go(++step) != 0) break;
      sequential(fd, size, buffer, 1);
      if (failures != 0 || wait_for_go(++step) != 0) break;
      sequential(fd, size, buffer, 0);
      if (failures != 0 || wait_for_go(++step) != 0) break;
      random_reads(fd, size, buffer, cmdline_number(cmdline, "blkbench.random_seconds=", 5));
    }
  }
  guest_init_finish(PREFIX, failures);
  return 0;
}
