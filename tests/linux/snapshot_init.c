// PID 1 of the snapshot test (tests/linux/linux_snapshot_test.cc builds the initramfs around
// it): a guest whose state lives in its memory, its drive and its clock, counting forever so
// that a snapshot taken at any moment catches it mid-count. In order:
//   modules   each file of /modules/load-order loaded (guest_modules.h): virtio_mmio,
//             virtio_blk, vsock's virtio transport and what they need
//   drive     /dev/vda appears within 30 s; its size in sectors, from /sys/block/vda/size
//   vsock     a listener on vsock port 5000 (VMADDR_CID_ANY, non-blocking)
// then "snapshot-init: ready", once, and the count: for K = 1, 2, ... each step
//   1. writes record K (below) to sector K of /dev/vda with O_DIRECT, so that the write
//      has reached the device (vmmd's drive file) before write(2) returns;
//   2. prints "count K clock NS", NS being CLOCK_MONOTONIC in nanoseconds, read after the
//      write: a line is printed only once its record is on the drive;
//   3. answers each connection waiting on port 5000 with "cid CID count K\n" (CID: the
//      guest's own, IOCTL_VM_SOCKETS_GET_LOCAL_CID, which a transport reset makes it read
//      again) and closes it;
//   4. sleeps 100 ms (nanosleep: CLOCK_MONOTONIC advances at least that much).
// Record K, 512 bytes: "snapshot-init record K\n", then bytes (K + i) & 0xff for the rest of
// the first 504 bytes (i: the byte's offset), then the FNV-1a 64-bit hash of those 504 bytes,
// little-endian. The test (ExpectedRecord there) builds the same bytes. Sector 0 is never
// written.
// The count ends only at the drive's end or when a write fails ("snapshot-init: stopped at K:
// ..."), and a failed check ends the init before it; either way PID 1 then reboots, which
// with reboot=k stops the VM with "guest reset". Static, no libraries.
#define _GNU_SOURCE  // accept4, O_DIRECT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INIT_CHECKS_PREFIX "snapshot-init"
#include "guest_init.h"

#define RECORD_BYTES 512
#define RECORD_HASHED 504
#define VSOCK_PORT 5000

static void make_record(uint64_t k, unsigned char* record) {
  memset(record, 0, RECORD_BYTES);
  int length = snprintf((char*)record, RECORD_HASHED, "snapshot-init record %" PRIu64 "\n", k);
  for (int i = length; i < RECORD_HASHED; ++i) record[i] = (unsigned char)(k + (uint64_t)i);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (int i = 0; i < RECORD_HASHED; ++i) hash = (hash ^ record[i]) * 0x100000001b3ull;
  for (int i = 0; i < 8; ++i) record[RECORD_HASHED + i] = (unsigned char)(hash >> (8 * i));
}

// /dev/vda within 30 s; its size in 512-byte sectors, 0 when it did not come.
static uint64_t wait_for_drive(void) {
  const double start = now_seconds();
  while (access("/dev/vda", F_OK) != 0 && now_seconds() - start < 30) usleep(20 * 1000);
  const char* size = read_text("/sys/block/vda/size");
  uint64_t sectors = access("/dev/vda", F_OK) == 0 && size != NULL ? strtoull(size, NULL, 10) : 0;
  char detail[128];
  snprintf(detail, sizeof(detail), "/dev/vda %s after %.2f s, %" PRIu64 " sectors",
           sectors > 0 ? "appeared" : "missing", now_seconds() - start, sectors);
  check("drive", sectors > 1, detail);
  return sectors;
}

static int vsock_listener(void) {
  struct sockaddr_vm address;
  memset(&address, 0, sizeof(address));
  address.svm_family = AF_VSOCK;
  address.svm_cid = VMADDR_CID_ANY;
  address.svm_port = VSOCK_PORT;
  int listener = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int ok = listener >= 0 && bind(listener, (struct sockaddr*)&address, sizeof(address)) == 0 &&
           listen(listener, 16) == 0;
  char detail[128];
  snprintf(detail, sizeof(detail), "listening on vsock port %d: %s", VSOCK_PORT, ok ? "ok" : strerror(errno));
  check("vsock", ok, detail);
  if (!ok && listener >= 0) close(listener);
  return ok ? listener : -1;
}

// The guest's CID as its vsock transport has it now; -1 when it cannot be read.
static long long local_cid(void) {
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  unsigned int cid = 0;
  int ok = fd >= 0 && ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) == 0;
  if (fd >= 0) close(fd);
  return ok ? (long long)cid : -1;
}

// Every connection waiting on the listener: "cid CID count K\n", then closed.
static void answer_connections(int listener, uint64_t k) {
  int fd;
  while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
    char answer[64];
    int length = snprintf(answer, sizeof(answer), "cid %lld count %" PRIu64 "\n", local_cid(), k);
    if (send(fd, answer, (size_t)length, MSG_NOSIGNAL) != length) {
      printf("snapshot-init: vsock answer at count %" PRIu64 ": %s\n", k, strerror(errno));
    }
    close(fd);
  }
}

// The count, until the drive's end or a failed write.
static void count(uint64_t sectors, int listener) {
  int fd = open("/dev/vda", O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) {
    printf("snapshot-init: stopped at 0: open /dev/vda: %s\n", strerror(errno));
    return;
  }
  void* buffer = NULL;
  if (posix_memalign(&buffer, 4096, RECORD_BYTES) != 0) {  // O_DIRECT: aligned memory
    printf("snapshot-init: stopped at 0: no memory\n");
    return;
  }
  unsigned char* record = buffer;
  const struct timespec step = {0, 100 * 1000 * 1000};
  uint64_t k = 1;
  for (; k < sectors; ++k) {
    make_record(k, record);
    ssize_t written = pwrite(fd, record, RECORD_BYTES, (off_t)(k * RECORD_BYTES));
    if (written != RECORD_BYTES) {
      printf("snapshot-init: stopped at %" PRIu64 ": write: %s\n", k,
             written < 0 ? strerror(errno) : "short");
      break;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("count %" PRIu64 " clock %" PRIu64 "\n", k, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    if (listener >= 0) answer_connections(listener, k);
    struct timespec left = step;
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
  }
  if (k == sectors) printf("snapshot-init: stopped at %" PRIu64 ": the drive's end\n", k);
  close(fd);
}

static const char* const kKernelWords[] = {"virtio", "vda", "vsock", "module", "taint", "irq", "IRQ"};

int main(void) {
  start_init();
  const char* cmdline_text = read_text("/proc/cmdline");
  char* cmdline = strdup(cmdline_text ? cmdline_text : "");
  load_modules(cmdline);
  uint64_t sectors = wait_for_drive();
  int listener = vsock_listener();
  if (failures == 0) {
    printf("snapshot-init: ready\n");
    count(sectors, listener);
  }
  finish_init(kKernelWords, sizeof(kKernelWords) / sizeof(kKernelWords[0]));
  return 1;  // not reached: PID 1 exiting would panic the kernel
}
