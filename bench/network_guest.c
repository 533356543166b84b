// PID 1 of the network benchmark's Linux guest (bench/network_bench.cc builds the initramfs
// around it, boots it under vmmd and under QEMU microvm at once, and serves and times its
// transfers on the host side, one guest at a time). It loads Debian's virtio modules, gives
// eth0 the address netbench.addr= (a /24; from the command line), and then, as a client of
// the host, netbench.rounds= times:
//   TCP to netbench.host=:netbench.port=   guest to host, then host to guest
//   vsock to CID 2 (the host), same port   guest to host, then host to guest (netbench.vsock=1)
// each one connection moving netbench.mib= MiB one way. A connection opens with a 16-byte
// header, "S 0000000000042\n" (the guest sends that many bytes, then waits for one byte of
// acknowledgement) or "R ..." (the host sends them, and the guest acknowledges with one byte
// once it has them all); the guest sends (S) or reads (R) only after the host's go, one byte:
// the host lets one guest move data at a time. The host times from the go to the last byte
// or the acknowledgement; then the guest tells it what the transfer cost the guest (its CPU
// time and interrupts, see transfer()). Each transfer prints "vmmd-netbench: NAME moved bytes=B" on the
// console, any failure "vmmd-netbench: error ..." instead; then "vmmd-netbench: done
// failures=N" and reboot(2): vmmd (reboot=k) and QEMU (-no-reboot) both stop the guest there.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "bench/guest_init.h"

#define PREFIX "vmmd-netbench: "

enum { kChunk = 256 << 10, kHeader = 16, kCostRecord = 64 };

static int failures;
static char buffer[kChunk];

static void error(const char* what) {
  printf(PREFIX "error %s: %s\n", what, strerror(errno));
  ++failures;
}

// The value of `key` (e.g. "netbench.host=") on the command line, into `value`; "" if absent.
static void cmdline_value(const char* cmdline, const char* key, char* value, size_t size) {
  value[0] = '\0';
  const char* p = strstr(cmdline, key);
  if (p == NULL) return;
  p += strlen(key);
  snprintf(value, size, "%.*s", (int)strcspn(p, " \n"), p);
}

static int set_address(int fd, unsigned long request, const char* name, const char* address) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  struct sockaddr_in* in = (struct sockaddr_in*)&ifr.ifr_addr;
  in->sin_family = AF_INET;
  if (inet_pton(AF_INET, address, &in->sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  return ioctl(fd, request, &ifr);
}

static int set_up(int fd, const char* name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

// eth0 up with `address`/24 once its driver has made it (up to 30 s); lo up.
static int configure_network(const char* address) {
  for (int tries = 0; tries < 1500 && if_nametoindex("eth0") == 0; ++tries) usleep(20 * 1000);
  if (if_nametoindex("eth0") == 0) {
    error("no eth0");
    return -1;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error("socket(AF_INET)");
    return -1;
  }
  int ok = set_address(fd, SIOCSIFADDR, "eth0", address) == 0 &&
           set_address(fd, SIOCSIFNETMASK, "eth0", "255.255.255.0") == 0 && set_up(fd, "eth0") == 0 &&
           set_up(fd, "lo") == 0;
  if (!ok) error("configuring eth0");
  close(fd);
  return ok ? 0 : -1;
}

// A connected stream socket to `address` (of `length` bytes), retried for up to 20 s while the
// host or the link is not there yet; -1 (reported) on failure.
static int connect_to(int family, const struct sockaddr* address, socklen_t length, const char* name) {
  for (int tries = 0; tries < 200; ++tries) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    // A stalled transfer fails instead of hanging the run; the host's go may wait for the
    // other guest's transfer.
    struct timeval timeout = {120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, address, length) == 0) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    if (errno != ECONNREFUSED && errno != ENETUNREACH && errno != EHOSTUNREACH && errno != ETIMEDOUT &&
        errno != ECONNRESET) {
      break;
    }
    usleep(100 * 1000);
  }
  char what[64];
  snprintf(what, sizeof(what), "connect %s", name);
  error(what);
  return -1;
}

static int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ECONNRESET;
      return -1;
    }
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

// The guest's CPU time (USER_HZ ticks) and interrupts so far, from /proc/stat.
struct cpu_use {
  unsigned long long busy, idle, steal, interrupts;
};

static struct cpu_use read_cpu_use(void) {
  struct cpu_use use = {0, 0, 0, 0};
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  FILE* file = fopen("/proc/stat", "r");
  if (file == NULL) return use;
  char line[256];
  while (fgets(line, sizeof(line), file) != NULL) {
    if (sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
               &softirq, &steal) == 8) {
      use.busy = user + nice + system + irq + softirq;
      use.idle = idle + iowait;
      use.steal = steal;
    }
    sscanf(line, "intr %llu", &use.interrupts);
  }
  fclose(file);
  return use;
}

// One transfer of `bytes` on a fresh connection: the guest sends when `op` is 'S', receives
// when it is 'R'. After the acknowledgement the guest sends a 64-byte record of what the
// transfer cost it, from the go to the acknowledgement: "C busy_ms idle_ms steal_ms
// interrupts" (the host waits for it, so no pause falls inside).
static void transfer(int family, const struct sockaddr* address, socklen_t length, const char* name, char op,
                     uint64_t bytes) {
  int fd = connect_to(family, address, length, name);
  if (fd < 0) return;
  char header[kHeader + 1];
  snprintf(header, sizeof(header), "%c %013llu\n", op, (unsigned long long)bytes);
  char ack = 'k', go = 0;
  int failed = write_all(fd, header, kHeader) != 0 || read_all(fd, &go, 1) != 0 || go != 'g';
  const struct cpu_use before = read_cpu_use();
  for (uint64_t left = bytes; !failed && left > 0;) {
    size_t n = left < kChunk ? (size_t)left : kChunk;
    failed = op == 'S' ? write_all(fd, buffer, n) != 0 : read_all(fd, buffer, n) != 0;
    left -= n;
  }
  if (!failed) failed = op == 'S' ? read_all(fd, &ack, 1) != 0 : write_all(fd, &ack, 1) != 0;
  if (!failed) {
    const struct cpu_use after = read_cpu_use();
    const unsigned long long ms_per_tick = 1000 / (unsigned long long)sysconf(_SC_CLK_TCK);
    char cost[kCostRecord];
    memset(cost, 0, sizeof(cost));
    snprintf(cost, sizeof(cost), "C %llu %llu %llu %llu\n", (after.busy - before.busy) * ms_per_tick,
             (after.idle - before.idle) * ms_per_tick, (after.steal - before.steal) * ms_per_tick,
             after.interrupts - before.interrupts);
    failed = write_all(fd, cost, sizeof(cost)) != 0;
  }
  if (!failed) read(fd, &ack, 1);  // the host's close: it has the record
  if (failed) {
    char what[64];
    snprintf(what, sizeof(what), "%s", name);
    error(what);
  } else {
    printf(PREFIX "%s moved bytes=%llu\n", name, (unsigned long long)bytes);
  }
  close(fd);
}

int main(void) {
  static char cmdline[4096];
  failures += guest_init_start(PREFIX, cmdline, sizeof(cmdline));
  char address[64], host[64], value[64];
  cmdline_value(cmdline, "netbench.addr=", address, sizeof(address));
  cmdline_value(cmdline, "netbench.host=", host, sizeof(host));
  cmdline_value(cmdline, "netbench.port=", value, sizeof(value));
  const int port = atoi(value);
  cmdline_value(cmdline, "netbench.mib=", value, sizeof(value));
  const uint64_t bytes = (uint64_t)atoll(value) << 20;
  cmdline_value(cmdline, "netbench.vsock=", value, sizeof(value));
  const int vsock = atoi(value);
  cmdline_value(cmdline, "netbench.rounds=", value, sizeof(value));
  const int rounds = atoi(value) > 0 ? atoi(value) : 1;
  for (size_t i = 0; i < sizeof(buffer); ++i) buffer[i] = (char)(i * 131 + 7);

  struct sockaddr_in tcp = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  int tcp_ok = configure_network(address) == 0;
  if (tcp_ok && inet_pton(AF_INET, host, &tcp.sin_addr) != 1) {
    errno = EINVAL;
    error("netbench.host=");
    tcp_ok = 0;
  }
  struct sockaddr_vm vm = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = (unsigned)port};
  for (int round = 0; round < rounds && failures == 0; ++round) {
    if (tcp_ok) {
      transfer(AF_INET, (struct sockaddr*)&tcp, sizeof(tcp), "tcp_guest_to_host", 'S', bytes);
      transfer(AF_INET, (struct sockaddr*)&tcp, sizeof(tcp), "tcp_host_to_guest", 'R', bytes);
    }
    if (vsock) {
      transfer(AF_VSOCK, (struct sockaddr*)&vm, sizeof(vm), "vsock_guest_to_host", 'S', bytes);
      transfer(AF_VSOCK, (struct sockaddr*)&vm, sizeof(vm), "vsock_host_to_guest", 'R', bytes);
    }
  }
  guest_init_finish(PREFIX, failures);
  return 0;
}
