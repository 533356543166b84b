// PID 1 of the network test (tests/linux/linux_network_test.cc builds the initramfs around
// it): uses vmmd's virtio-net and virtio-vsock devices through Debian's own drivers, one
// console line per check, then reboots. The test decides everything on the kernel command
// line:
//   vmmd_net=GUEST_IP,PREFIX,HOST_IP,PEER_IP,MAC
//   vmmd_tcp=PORT,DOWN_SEED,UP_SEED,BYTES
//   vmmd_vsock=ECHO_PORT,ECHO_SEED,HOST_PORT,OUT_SEED,IN_SEED,BYTES
// Streams and hashes are stream_data.h's. In order:
//   params     the three parameters are on the command line
//   modules    each file of /modules/load-order loaded (guest_modules.h)
//   eth0       /sys/class/net/eth0 appears within 30 s, with address MAC
//   address    eth0 gets GUEST_IP/PREFIX and is brought up (SIOCSIFADDR, SIOCSIFNETMASK,
//              SIOCSIFFLAGS)
//   ping       HOST_IP answers an ICMP echo request (raw socket), with our payload
//   isolation  PEER_IP (the other VM's guest, on-link by our prefix but behind another tap)
//              answers none of 3 echo requests
//   tcp-rx     a TCP connection to HOST_IP:PORT: BYTES of stream DOWN_SEED received while
//              BYTES of stream UP_SEED are sent ("tcp-tx"), then both ends shut down
//   vsock-echo a vsock listener on ECHO_PORT accepts one connection (the test's CONNECT
//              through uds_path) and echoes it to EOF: BYTES of stream ECHO_SEED
//   vsock-out  a connection to CID 2 port HOST_PORT (the test's listener at
//              <uds_path>_HOST_PORT): BYTES of stream OUT_SEED sent, BYTES of stream IN_SEED
//              received
// Each transfer prints "vmmd-net: NAME HASH BYTES SECONDS" for the test to compare with its
// own end. Then "N checks failed; rebooting" and reboot(2) RB_AUTOBOOT: with reboot=k vmmd
// stops the VM with "guest reset". When a check failed, the kernel's lines about the devices
// are repeated from its log first (the test boots `quiet`). Static, no libraries.
#define _GNU_SOURCE  // accept4
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define INIT_CHECKS_PREFIX "vmmd-net"
#include "guest_init.h"
#include "stream_data.h"

// Any transfer longer than this is a hang, not a slow run: the test's own bound is longer.
#define TRANSFER_SECONDS 600

struct params {
  char guest_ip[32], host_ip[32], peer_ip[32], mac[32];
  int prefix;
  unsigned tcp_port;
  uint64_t down_seed, up_seed, tcp_bytes;
  unsigned echo_port, host_port;
  uint64_t echo_seed, out_seed, in_seed, vsock_bytes;
};

// The value of `key` (a whole word of `cmdline`, "key=value"), copied into `value`.
static int cmdline_value(const char* cmdline, const char* key, char* value, size_t size) {
  const size_t length = strlen(key);
  for (const char* p = cmdline; (p = strstr(p, key)) != NULL; ++p) {
    if ((p == cmdline || p[-1] == ' ') && p[length] == '=') {
      p += length + 1;
      snprintf(value, size, "%.*s", (int)strcspn(p, " \n"), p);
      return 1;
    }
  }
  return 0;
}

static int parse_params(const char* cmdline, struct params* params) {
  char net[256], tcp[256], vsock[256];
  memset(params, 0, sizeof(*params));
  int ok = cmdline_value(cmdline, "vmmd_net", net, sizeof(net)) &&
           cmdline_value(cmdline, "vmmd_tcp", tcp, sizeof(tcp)) &&
           cmdline_value(cmdline, "vmmd_vsock", vsock, sizeof(vsock));
  ok = ok && sscanf(net, "%31[^,],%d,%31[^,],%31[^,],%31s", params->guest_ip, &params->prefix, params->host_ip,
                    params->peer_ip, params->mac) == 5;
  ok = ok && sscanf(tcp, "%u,%" SCNu64 ",%" SCNu64 ",%" SCNu64, &params->tcp_port, &params->down_seed,
                    &params->up_seed, &params->tcp_bytes) == 4;
  ok = ok && sscanf(vsock, "%u,%" SCNu64 ",%u,%" SCNu64 ",%" SCNu64 ",%" SCNu64, &params->echo_port,
                    &params->echo_seed, &params->host_port, &params->out_seed, &params->in_seed,
                    &params->vsock_bytes) == 6;
  char detail[1024];
  snprintf(detail, sizeof(detail), "vmmd_net=%s vmmd_tcp=%s vmmd_vsock=%s", ok ? net : "?", ok ? tcp : "?",
           ok ? vsock : "?");
  check("params", ok, detail);
  return ok;
}

// eth0 appears (within 30 s) with the MAC the test gave vmmd.
static int find_eth0(const char* mac) {
  const double start = now_seconds();
  while (access("/sys/class/net/eth0", F_OK) != 0 && now_seconds() - start < 30) usleep(20 * 1000);
  const char* actual = read_text("/sys/class/net/eth0/address");
  char detail[256];
  snprintf(detail, sizeof(detail), "eth0 %s after %.2f s, address %s, expected %s", actual ? "found" : "missing",
           now_seconds() - start, actual ? actual : "?", mac);
  const int ok = actual != NULL && strcasecmp(actual, mac) == 0;
  check("eth0", ok, detail);
  return ok;
}

static int set_address(const char* ip, int prefix) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq request;
  memset(&request, 0, sizeof(request));
  snprintf(request.ifr_name, sizeof(request.ifr_name), "eth0");
  struct sockaddr_in* address = (struct sockaddr_in*)&request.ifr_addr;
  address->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &address->sin_addr);
  const char* failed = NULL;
  if (ioctl(fd, SIOCSIFADDR, &request) != 0) failed = "SIOCSIFADDR";
  address->sin_addr.s_addr = htonl(prefix == 0 ? 0 : ~0u << (32 - prefix));
  if (failed == NULL && ioctl(fd, SIOCSIFNETMASK, &request) != 0) failed = "SIOCSIFNETMASK";
  if (failed == NULL && ioctl(fd, SIOCGIFFLAGS, &request) != 0) failed = "SIOCGIFFLAGS";
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (failed == NULL && ioctl(fd, SIOCSIFFLAGS, &request) != 0) failed = "SIOCSIFFLAGS";
  char detail[256];
  snprintf(detail, sizeof(detail), "eth0 %s/%d up%s%s%s", ip, prefix, failed ? ": " : "", failed ? failed : "",
           failed ? " failed" : "");
  if (failed != NULL) snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), " (%s)", strerror(errno));
  close(fd);
  check("address", failed == NULL, detail);
  return failed == NULL;
}

static uint16_t icmp_checksum(const void* data, size_t size) {
  const unsigned char* bytes = data;
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < size; i += 2) sum += (uint32_t)(bytes[i] << 8 | bytes[i + 1]);
  if (size % 2) sum += (uint32_t)bytes[size - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons((uint16_t)~sum);
}

// Echo requests to `target`, one a second, `attempts` of them: how many were answered (an
// echo reply from `target` with our id, sequence and payload); the first one's round trip.
static int ping(const char* target, int attempts, double* first_rtt) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return -1;
  struct sockaddr_in to;
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  inet_pton(AF_INET, target, &to.sin_addr);
  const uint16_t id = (uint16_t)(0x5600 | (getpid() & 0xff));
  int answered = 0;
  *first_rtt = -1;
  for (int seq = 1; seq <= attempts; ++seq) {
    unsigned char request[64];
    memset(request, 0, sizeof(request));
    struct icmphdr* header = (struct icmphdr*)request;
    header->type = ICMP_ECHO;
    header->un.echo.id = htons(id);
    header->un.echo.sequence = htons((uint16_t)seq);
    for (size_t i = sizeof(*header); i < sizeof(request); ++i) request[i] = (unsigned char)(i * 7 + seq);
    header->checksum = icmp_checksum(request, sizeof(request));
    const double sent = now_seconds();
    if (sendto(fd, request, sizeof(request), 0, (struct sockaddr*)&to, sizeof(to)) < 0) {
      usleep(1000 * 1000);  // e.g. no route yet
      continue;
    }
    for (;;) {
      const double left = sent + 1.0 - now_seconds();
      struct pollfd waiting = {fd, POLLIN, 0};
      if (left <= 0 || poll(&waiting, 1, (int)(left * 1000) + 1) <= 0) break;
      unsigned char reply[1500];
      struct sockaddr_in from;
      socklen_t from_size = sizeof(from);
      ssize_t n = recvfrom(fd, reply, sizeof(reply), 0, (struct sockaddr*)&from, &from_size);
      if (n < (ssize_t)sizeof(struct iphdr)) continue;
      const size_t ip_size = (size_t)(reply[0] & 0x0f) * 4;
      if ((size_t)n != ip_size + sizeof(request) || from.sin_addr.s_addr != to.sin_addr.s_addr) continue;
      const struct icmphdr* answer = (const struct icmphdr*)(reply + ip_size);
      if (answer->type != ICMP_ECHOREPLY || ntohs(answer->un.echo.id) != id ||
          ntohs(answer->un.echo.sequence) != seq ||
          memcmp(reply + ip_size + sizeof(*answer), request + sizeof(*header), sizeof(request) - sizeof(*header))) {
        continue;
      }
      if (answered++ == 0) *first_rtt = now_seconds() - sent;
      break;
    }
    const double left = sent + 1.0 - now_seconds();
    if (left > 0 && seq < attempts) usleep((useconds_t)(left * 1e6));
  }
  close(fd);
  return answered;
}

struct transfer {
  struct stream_hash sent, received;
  double seconds;
  char error[128];
};

// Sends `send_bytes` of stream `seed` on `fd` (then shuts down its write side) while
// receiving to EOF, hashing both; bounded by TRANSFER_SECONDS.
static struct transfer exchange(int fd, uint64_t seed, uint64_t send_bytes) {
  struct transfer result;
  memset(&result, 0, sizeof(result));
  result.sent = stream_hash_start();
  result.received = stream_hash_start();
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  static unsigned char out[65536], in[65536];
  size_t out_start = 0, out_end = 0;
  uint64_t generated = 0;
  int write_open = 1, read_open = 1;
  const double start = now_seconds();
  while (write_open || read_open) {
    if (write_open && out_start == out_end) {
      if (generated == send_bytes) {
        shutdown(fd, SHUT_WR);
        write_open = 0;
        continue;
      }
      const size_t n = send_bytes - generated < sizeof(out) ? (size_t)(send_bytes - generated) : sizeof(out);
      stream_fill(seed, generated, out, n);
      stream_hash_add(&result.sent, out, n);
      generated += n;
      out_start = 0;
      out_end = n;
    }
    struct pollfd waiting = {fd, (short)((read_open ? POLLIN : 0) | (write_open ? POLLOUT : 0)), 0};
    const double left = start + TRANSFER_SECONDS - now_seconds();
    if (left <= 0) {
      snprintf(result.error, sizeof(result.error), "not done after %d s", TRANSFER_SECONDS);
      break;
    }
    if (poll(&waiting, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR) {
      snprintf(result.error, sizeof(result.error), "poll: %s", strerror(errno));
      break;
    }
    if (read_open && (waiting.revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = recv(fd, in, sizeof(in), 0);
      if (n > 0) {
        stream_hash_add(&result.received, in, (size_t)n);
      } else if (n == 0) {
        read_open = 0;
      } else if (errno != EAGAIN && errno != EINTR) {
        snprintf(result.error, sizeof(result.error), "recv: %s", strerror(errno));
        break;
      }
    }
    if (write_open && (waiting.revents & (POLLOUT | POLLERR))) {
      ssize_t n = send(fd, out + out_start, out_end - out_start, MSG_NOSIGNAL);
      if (n > 0) {
        out_start += (size_t)n;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        snprintf(result.error, sizeof(result.error), "send: %s", strerror(errno));
        break;
      }
    }
  }
  result.seconds = now_seconds() - start;
  return result;
}

// "vmmd-net: NAME HASH BYTES SECONDS", and the check that `hash` is stream `seed`'s first
// `bytes` bytes.
static void report(const char* name, const struct stream_hash* hash, double seconds, uint64_t seed, uint64_t bytes,
                   const char* error) {
  printf("vmmd-net: %s %016" PRIx64 " %" PRIu64 " %.2f\n", name, hash->value, hash->bytes, seconds);
  const uint64_t expected = stream_expected_hash(seed, bytes);
  char detail[512];
  snprintf(detail, sizeof(detail), "%" PRIu64 " bytes hashing %016" PRIx64 " in %.2f s (%.1f MiB/s); expected %" PRIu64
           " hashing %016" PRIx64 "%s%s",
           hash->bytes, hash->value, seconds, seconds > 0 ? (double)hash->bytes / seconds / (1 << 20) : 0.0, bytes,
           expected, error[0] ? "; " : "", error);
  check(name, hash->bytes == bytes && hash->value == expected && error[0] == '\0', detail);
}

static struct sockaddr_vm vsock_address(unsigned cid, unsigned port) {
  struct sockaddr_vm address;
  memset(&address, 0, sizeof(address));
  address.svm_family = AF_VSOCK;
  address.svm_cid = cid;
  address.svm_port = port;
  return address;
}

static void tcp_transfer(const struct params* params) {
  struct sockaddr_in host;
  memset(&host, 0, sizeof(host));
  host.sin_family = AF_INET;
  host.sin_port = htons((uint16_t)params->tcp_port);
  inet_pton(AF_INET, params->host_ip, &host.sin_addr);
  int fd = -1, error = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr*)&host, sizeof(host)) == 0) break;
    error = errno;
    close(fd);
    fd = -1;
    usleep(500 * 1000);
  }
  if (fd < 0) {
    char detail[256];
    snprintf(detail, sizeof(detail), "connect %s:%u: %s", params->host_ip, params->tcp_port, strerror(error));
    check("tcp-rx", 0, detail);
    return;
  }
  struct transfer transfer = exchange(fd, params->up_seed, params->tcp_bytes);
  close(fd);
  report("tcp-tx", &transfer.sent, transfer.seconds, params->up_seed, params->tcp_bytes, "");
  report("tcp-rx", &transfer.received, transfer.seconds, params->down_seed, params->tcp_bytes, transfer.error);
}

// One connection on ECHO_PORT, echoed to EOF.
static void vsock_echo(const struct params* params) {
  struct sockaddr_vm address = vsock_address(VMADDR_CID_ANY, params->echo_port);
  int listener = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char detail[256];
  if (listener < 0 || bind(listener, (struct sockaddr*)&address, sizeof(address)) != 0 || listen(listener, 1) != 0) {
    snprintf(detail, sizeof(detail), "listening on vsock port %u: %s", params->echo_port, strerror(errno));
    check("vsock-echo", 0, detail);
    if (listener >= 0) close(listener);
    return;
  }
  printf("vmmd-net: vsock listening on port %u\n", params->echo_port);
  struct pollfd waiting = {listener, POLLIN, 0};
  int fd = poll(&waiting, 1, TRANSFER_SECONDS * 1000) == 1 ? accept4(listener, NULL, NULL, SOCK_CLOEXEC) : -1;
  close(listener);
  if (fd < 0) {
    snprintf(detail, sizeof(detail), "no connection on vsock port %u", params->echo_port);
    check("vsock-echo", 0, detail);
    return;
  }
  struct stream_hash echoed = stream_hash_start();
  static unsigned char buffer[65536];
  const double start = now_seconds();
  char error[128] = "";
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) snprintf(error, sizeof(error), "read: %s", strerror(errno));
    if (n <= 0) break;
    stream_hash_add(&echoed, buffer, (size_t)n);
    for (ssize_t done = 0; done < n;) {
      ssize_t written = send(fd, buffer + done, (size_t)(n - done), MSG_NOSIGNAL);
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) {
        snprintf(error, sizeof(error), "send: %s", strerror(errno));
        break;
      }
      done += written;
    }
    if (error[0]) break;
  }
  close(fd);
  report("vsock-echo", &echoed, now_seconds() - start, params->echo_seed, params->vsock_bytes, error);
}

static void vsock_out(const struct params* params) {
  struct sockaddr_vm host = vsock_address(VMADDR_CID_HOST, params->host_port);
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&host, sizeof(host)) != 0) {
    char detail[256];
    snprintf(detail, sizeof(detail), "connect to CID 2 port %u: %s", params->host_port, strerror(errno));
    check("vsock-out", 0, detail);
    if (fd >= 0) close(fd);
    return;
  }
  struct transfer transfer = exchange(fd, params->out_seed, params->vsock_bytes);
  close(fd);
  report("vsock-out", &transfer.sent, transfer.seconds, params->out_seed, params->vsock_bytes, "");
  report("vsock-in", &transfer.received, transfer.seconds, params->in_seed, params->vsock_bytes, transfer.error);
}

// The kernel's lines about the devices and modules.
static const char* const kKernelWords[] = {"virtio", "eth0", "vsock", "module", "taint", "irq", "IRQ", "net"};

int main(void) {
  start_init();

  const char* cmdline_text = read_text("/proc/cmdline");
  char* cmdline = strdup(cmdline_text ? cmdline_text : "");
  struct params params;
  if (parse_params(cmdline, &params)) {
    load_modules(cmdline);
    if (find_eth0(params.mac) && set_address(params.guest_ip, params.prefix)) {
      double rtt;
      char detail[256];
      int answered = ping(params.host_ip, 10, &rtt);
      snprintf(detail, sizeof(detail), "%s: %d of 10 echo requests answered, the first in %.1f ms", params.host_ip,
               answered, rtt * 1000);
      check("ping", answered > 0, detail);
      answered = ping(params.peer_ip, 3, &rtt);
      snprintf(detail, sizeof(detail), "%s (the other VM's guest): %d of 3 echo requests answered", params.peer_ip,
               answered);
      check("isolation", answered == 0, detail);
      tcp_transfer(&params);
    }
    vsock_echo(&params);
    vsock_out(&params);
  }
  finish_init(kKernelWords, sizeof(kKernelWords) / sizeof(kKernelWords[0]));
  return 1;  // not reached: PID 1 exiting would panic the kernel
}
