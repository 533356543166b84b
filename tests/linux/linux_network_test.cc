// vmmd's virtio-net and virtio-vsock devices used by Debian's own Linux 6.1 drivers, through
// the real vmmd binary (tag: requires-kvm; root: it makes a network namespace and taps).
// The test makes a network namespace (ip netns add, iproute2) and enters it before it starts
// the daemon, so that vmmd, the taps, the test's sockets and its ip commands all live there;
// in it, two taps, each with a host address in its own /24. It boots two VMs at once, each
// with the generic bzImage, one interface on its own tap and a vsock device on its own
// socket, and an initramfs whose /init is network_init (a static program built by Bazel)
// with the modules tests/linux/fetch_kernels.sh keeps (virtio_net, vsock's virtio transport
// and what they need). The guests' addresses, ports and streams' seeds are on their
// command lines; every seed differs, so that bytes that reach the wrong VM fail a hash.
// Checked, for each VM:
//   guest     network_init's checks (see network_init.c): eth0 with the MAC the test gave,
//             addressed and up; the host side answers ping; the other VM's guest, on-link by
//             the guest's /16, does not; 64 MiB each way over TCP to the host's address, and
//             over vsock 16 MiB echoed by the guest (the test connects through uds_path with
//             CONNECT) and 16 MiB each way on the guest's connection to CID 2 (the test's
//             listener at <uds_path>_<port>), each stream's hash right on the receiving end;
//             then the VM stops with "guest reset";
//   host      the same transfers from the host's end: the peer of the TCP connection is the
//             guest's address, what the host received hashes as the guest's stream, and the
//             hashes the guest printed for what it received are those of what the host sent;
//   counters  GetVm's: the interface moved at least 64 MiB each way and less than 5/4 of it
//             (another VM's traffic would double it), the vsock device exactly 32 MiB each
//             way of payload; no errors, refused accesses or needed resets;
//   isolation a packet socket on each tap sees its own guest's frames, the guest's ARP
//             requests for the other guest's address (the probe was on the wire), and not one
//             frame from or to the other guest's MAC or with its IPv4 address as the source.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/daemon/memory_bounds.h"
#include "tests/linux/guest_initramfs.h"
#include "tests/linux/host_command.h"
#include "tests/linux/host_files.h"
#include "tests/linux/kernel_cache.h"
#include "tests/linux/kernel_run.h"
#include "tests/linux/kernel_test.h"
#include "tests/linux/stream_data.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::vmmd::testing::CommandResult;
using ::vmmd::testing::Describe;
using ::vmmd::testing::ExpectInitChecks;
using ::vmmd::testing::FindTool;
using ::vmmd::testing::GuestInitramfs;
using ::vmmd::testing::kKernelCmdline;
using ::vmmd::testing::KernelRun;
using ::vmmd::testing::ReadFile;
using ::vmmd::testing::RunCommand;
using ::vmmd::testing::WriteFile;

constexpr char kInit[] = "tests/linux/network_init";
// 64 MiB each way, as issue 12 asks; under a sanitizer (tools/test's ASan pass) vmmd moved
// TCP at 0.1 MiB/s in the test VM and 64 MiB did not finish in 600 s, so that pass moves
// 4 MiB through the same paths: the gcc pass holds the 64 MiB.
constexpr uint64_t kTcpBytes = (::vmmd::testing::kSanitizedBuild ? uint64_t{4} : uint64_t{64}) << 20;
constexpr uint64_t kVsockBytes = uint64_t{16} << 20;
// The same ports in both VMs: only the tap, the address and the socket tell them apart.
constexpr uint16_t kTcpPort = 5001;
constexpr uint32_t kEchoPort = 5002;  // the guest's vsock echo server
constexpr uint32_t kHostPort = 6001;  // the test's listener at <uds_path>_6001
// The guests' prefix: wide enough that the other VM's guest is on-link, so that a guest's
// probe of it goes out as ARP requests a leak between the taps would answer.
constexpr int kGuestPrefix = 16;
// Both VMs, booted together, must have stopped by then: a hang guard, not a goal.
constexpr absl::Duration kRunBound = absl::Minutes(25);
// network_init.c's checks, each of which must say PASS.
constexpr const char* kGuestChecks[] = {"params",     "modules",   "eth0",     "address",
                                        "ping",       "isolation", "tcp-tx",   "tcp-rx",
                                        "vsock-echo", "vsock-out", "vsock-in"};

// One end of a transfer: what was sent and received, hashed as stream_data.h hashes.
struct Transfer {
  stream_hash sent = stream_hash_start();
  stream_hash received = stream_hash_start();
  absl::Duration took;
  std::string error;  // empty: both directions ran to their end
};

// Sends `bytes` of stream `seed` on `fd` (then shuts down the write side) while receiving to
// EOF; gives up at `deadline` or when `stop` is set.
Transfer Exchange(int fd, uint64_t seed, uint64_t bytes, absl::Time deadline, const std::atomic<bool>& stop) {
  Transfer result;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::vector<unsigned char> out(1 << 16), in(1 << 16);
  size_t out_start = 0, out_end = 0;
  uint64_t generated = 0;
  bool write_open = true, read_open = true;
  const absl::Time start = absl::Now();
  while (write_open || read_open) {
    if (write_open && out_start == out_end) {
      if (generated == bytes) {
        ::shutdown(fd, SHUT_WR);
        write_open = false;
        continue;
      }
      const size_t n = std::min<uint64_t>(bytes - generated, out.size());
      stream_fill(seed, generated, out.data(), n);
      stream_hash_add(&result.sent, out.data(), n);
      generated += n;
      out_start = 0;
      out_end = n;
    }
    if (stop.load() || absl::Now() > deadline) {
      result.error = stop.load() ? "the VM stopped first" : "out of time";
      break;
    }
    pollfd waiting = {fd, static_cast<short>((read_open ? POLLIN : 0) | (write_open ? POLLOUT : 0)), 0};
    if (::poll(&waiting, 1, 200) < 0 && errno != EINTR) {
      result.error = absl::StrCat("poll: ", std::strerror(errno));
      break;
    }
    if (read_open && (waiting.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(fd, in.data(), in.size(), 0);
      if (n > 0) {
        stream_hash_add(&result.received, in.data(), n);
      } else if (n == 0) {
        read_open = false;
      } else if (errno != EAGAIN && errno != EINTR) {
        result.error = absl::StrCat("recv: ", std::strerror(errno));
        break;
      }
    }
    if (write_open && (waiting.revents & (POLLOUT | POLLERR)) != 0) {
      const ssize_t n = ::send(fd, out.data() + out_start, out_end - out_start, MSG_NOSIGNAL);
      if (n > 0) {
        out_start += n;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        result.error = absl::StrCat("send: ", std::strerror(errno));
        break;
      }
    }
  }
  result.took = absl::Now() - start;
  return result;
}

// Whether `fd` became readable before `deadline` (or `stop`).
bool WaitReadable(int fd, absl::Time deadline, const std::atomic<bool>& stop) {
  while (!stop.load() && absl::Now() < deadline) {
    pollfd waiting = {fd, POLLIN, 0};
    if (::poll(&waiting, 1, 200) > 0) return true;
  }
  return false;
}

std::string Hex(uint64_t value) { return absl::StrFormat("%016x", value); }

// A packet socket on one tap, counting frames until stopped: its own guest's, the other
// guest's, and its guest's ARP requests for the other guest's address.
class FrameCounter {
 public:
  struct Counts {
    uint64_t frames = 0;
    uint64_t own = 0;           // from the tap's guest's MAC
    uint64_t foreign = 0;       // from or to the other guest's MAC, or from its address
    uint64_t probes = 0;        // ARP requests from the tap's guest for the other guest's address
    uint64_t kernel_drops = 0;  // PACKET_STATISTICS: frames the socket's buffer lost
  };

  FrameCounter(const std::string& tap, const std::array<uint8_t, 6>& own_mac,
               const std::array<uint8_t, 6>& other_mac, in_addr_t other_ip)
      : own_mac_(own_mac), other_mac_(other_mac), other_ip_(other_ip) {
    fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    const int buffer = 8 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer));
    sockaddr_ll address = {};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(::if_nametoindex(tap.c_str()));
    if (fd_ < 0 || address.sll_ifindex == 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      error_ = absl::StrCat("packet socket on ", tap, ": ", std::strerror(errno));
      return;
    }
    thread_ = std::thread([this] { Count(); });
  }
  ~FrameCounter() {
    Stop();
    if (fd_ >= 0) ::close(fd_);
  }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }
  const Counts& counts() const { return counts_; }  // after Stop

 private:
  void Count() {
    unsigned char frame[64];  // the headers are enough: longer frames come truncated
    while (!stop_.load()) {
      pollfd waiting = {fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd_, frame, sizeof(frame), MSG_DONTWAIT);
      if (n < 14) continue;
      ++counts_.frames;
      const bool to_other = std::memcmp(frame, other_mac_.data(), 6) == 0;
      const bool from_other = std::memcmp(frame + 6, other_mac_.data(), 6) == 0;
      const bool from_own = std::memcmp(frame + 6, own_mac_.data(), 6) == 0;
      const uint16_t type = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
      in_addr_t source = 0, target = 0;
      bool arp_request = false;
      if (type == ETH_P_IP && n >= 14 + 20) {
        std::memcpy(&source, frame + 14 + 12, 4);
      } else if (type == ETH_P_ARP && n >= 14 + 28) {
        arp_request = frame[14 + 6] == 0 && frame[14 + 7] == 1;  // ARPOP_REQUEST
        std::memcpy(&source, frame + 14 + 14, 4);                // sender protocol address
        std::memcpy(&target, frame + 14 + 24, 4);                // target protocol address
      }
      if (from_own) ++counts_.own;
      if (to_other || from_other || source == other_ip_) ++counts_.foreign;
      if (from_own && arp_request && target == other_ip_) ++counts_.probes;
    }
    tpacket_stats stats = {};
    socklen_t size = sizeof(stats);
    if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &size) == 0) counts_.kernel_drops = stats.tp_drops;
  }

  const std::array<uint8_t, 6> own_mac_, other_mac_;
  const in_addr_t other_ip_;
  int fd_ = -1;
  std::string error_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Counts counts_;  // written by thread_ until it is joined
};

// One VM's side of the test: its tap, addresses, vsock socket and seeds, and the host ends of
// its transfers, each in its own thread.
struct Guest {
  std::string name;  // "a" or "b"
  std::string tap, host_ip, guest_ip, mac;
  std::array<uint8_t, 6> mac_bytes;
  uint32_t cid;
  std::string uds_path;
  uint64_t down_seed, up_seed, echo_seed, out_seed, in_seed;

  int tcp_listener = -1, vsock_listener = -1;
  Transfer tcp, echo, vsock;  // the host's ends
  std::string tcp_peer;       // the address the TCP connection came from
  std::vector<std::thread> threads;
  std::unique_ptr<FrameCounter> frames;

  std::string Cmdline(const Guest& peer) const {
    return absl::StrFormat("%s vmmd_net=%s,%d,%s,%s,%s vmmd_tcp=%d,%d,%d,%d vmmd_vsock=%d,%d,%d,%d,%d,%d",
                           kKernelCmdline, guest_ip, kGuestPrefix, host_ip, peer.guest_ip, mac, kTcpPort,
                           down_seed, up_seed, kTcpBytes, kEchoPort, echo_seed, kHostPort, out_seed, in_seed,
                           kVsockBytes);
  }
};

class LinuxNetworkTest : public ::vmmd::testing::KernelTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "the network test makes a network namespace and taps: run it as root "
                                  "(tools/kvm-vm's test VM does)";
    ip_ = FindTool("ip");
    ASSERT_FALSE(ip_.empty()) << "no ip: apt-get install iproute2";
    // The namespace, entered by this thread before the daemon or any other thread starts:
    // what they create lives in it.
    netns_ = absl::StrCat("vmmd-net-", ::getpid());
    ASSERT_TRUE(Ip({"netns", "add", netns_}));
    original_netns_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int netns = ::open(absl::StrCat("/run/netns/", netns_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(netns, 0) << "/run/netns/" << netns_ << ": " << std::strerror(errno);
    const int entered = ::setns(netns, CLONE_NEWNET);
    const int error = errno;
    ::close(netns);
    ASSERT_EQ(entered, 0) << "setns(" << netns_ << "): " << std::strerror(error);
    ASSERT_TRUE(Ip({"link", "set", "lo", "up"}));

    // Not TEST_TMPDIR: "<uds_path>_<port>" must fit a sockaddr_un.
    std::string root = "/tmp/vmmd-vsock-XXXXXX";
    ASSERT_NE(::mkdtemp(root.data()), nullptr);
    vsock_root_ = root;
    daemon_flags_.push_back("--vsock_root=" + vsock_root_);
    KernelTest::SetUp();
  }

  void TearDown() override {
    stop_ = true;  // a test that stopped early may have left the host's ends running
    for (Guest& guest : guests_) {
      for (std::thread& thread : guest.threads) {
        if (thread.joinable()) thread.join();
      }
      guest.frames.reset();
    }
    KernelTest::TearDown();
    daemon_.reset();  // vmmd lets go of the taps
    for (const Guest& guest : guests_) {
      for (int fd : {guest.tcp_listener, guest.vsock_listener}) {
        if (fd >= 0) ::close(fd);
      }
      ::unlink(absl::StrCat(guest.uds_path, "_", kHostPort).c_str());
    }
    if (!vsock_root_.empty()) ::rmdir(vsock_root_.c_str());
    if (original_netns_ >= 0) {
      EXPECT_EQ(::setns(original_netns_, CLONE_NEWNET), 0) << std::strerror(errno);
      ::close(original_netns_);
      EXPECT_TRUE(Ip({"netns", "delete", netns_}));  // and the taps in it
    }
  }

  ::testing::AssertionResult Ip(std::vector<std::string> args) {
    args.insert(args.begin(), ip_);
    const CommandResult result = RunCommand(args);
    if (result.exit_status == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << Describe(args, result);
  }

  // The tap with the host's address, the TCP listener on it, the vsock listener at
  // <uds_path>_<kHostPort>.
  void PrepareHostSide(Guest& guest) {
    ASSERT_TRUE(Ip({"tuntap", "add", "dev", guest.tap, "mode", "tap"}));
    ASSERT_TRUE(Ip({"address", "add", guest.host_ip + "/24", "dev", guest.tap}));
    ASSERT_TRUE(Ip({"link", "set", guest.tap, "up"}));

    guest.tcp_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(kTcpPort);
    ASSERT_EQ(::inet_pton(AF_INET, guest.host_ip.c_str(), &address.sin_addr), 1);
    ASSERT_EQ(::bind(guest.tcp_listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
        << guest.host_ip << ":" << kTcpPort << ": " << std::strerror(errno);
    ASSERT_EQ(::listen(guest.tcp_listener, 1), 0);

    guest.vsock_listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un unix_address = {};
    unix_address.sun_family = AF_UNIX;
    const std::string path = absl::StrCat(guest.uds_path, "_", kHostPort);
    ASSERT_LT(path.size(), sizeof(unix_address.sun_path));
    std::strcpy(unix_address.sun_path, path.c_str());
    ASSERT_EQ(::bind(guest.vsock_listener, reinterpret_cast<sockaddr*>(&unix_address), sizeof(unix_address)), 0)
        << path << ": " << std::strerror(errno);
    ASSERT_EQ(::listen(guest.vsock_listener, 1), 0);
  }

  // The host's ends, each in a thread: the TCP server, the vsock listener, and the client
  // that reaches the guest's echo server through uds_path (CONNECT, retried until the guest
  // listens: until then the device refuses it).
  void StartHostSide(Guest& guest, absl::Time deadline) {
    guest.threads.emplace_back([this, &guest, deadline] {
      if (!WaitReadable(guest.tcp_listener, deadline, stop_)) return;
      sockaddr_in peer = {};
      socklen_t size = sizeof(peer);
      const int fd = ::accept4(guest.tcp_listener, reinterpret_cast<sockaddr*>(&peer), &size, SOCK_CLOEXEC);
      if (fd < 0) return;
      char text[INET_ADDRSTRLEN] = "";
      ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
      guest.tcp_peer = text;
      guest.tcp = Exchange(fd, guest.down_seed, kTcpBytes, deadline, stop_);
      ::close(fd);
    });
    guest.threads.emplace_back([this, &guest, deadline] {
      if (!WaitReadable(guest.vsock_listener, deadline, stop_)) return;
      const int fd = ::accept4(guest.vsock_listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      guest.vsock = Exchange(fd, guest.in_seed, kVsockBytes, deadline, stop_);
      ::close(fd);
    });
    guest.threads.emplace_back([this, &guest, deadline] {
      while (!stop_.load() && absl::Now() < deadline) {
        const int fd = ConnectThroughUds(guest.uds_path, kEchoPort, deadline);
        if (fd >= 0) {
          guest.echo = Exchange(fd, guest.echo_seed, kVsockBytes, deadline, stop_);
          ::close(fd);
          return;
        }
        absl::SleepFor(absl::Milliseconds(500));
      }
    });
  }

  // A connection to the guest's `port` through vmmd's socket at `uds_path`: "CONNECT port\n",
  // answered "OK <host port>\n". -1 when refused (the device closes the socket).
  int ConnectThroughUds(const std::string& uds_path, uint32_t port, absl::Time deadline) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address = {};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, uds_path.c_str(), sizeof(address.sun_path) - 1);
    const std::string command = absl::StrCat("CONNECT ", port, "\n");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(command.size())) {
      ::close(fd);
      return -1;
    }
    // The answer, a byte at a time: nothing after its newline is the answer's.
    std::string line;
    while (line.size() < 32 && (line.empty() || line.back() != '\n')) {
      char byte;
      if (!WaitReadable(fd, deadline, stop_) || ::recv(fd, &byte, 1, 0) != 1) break;
      line += byte;
    }
    if (!std::regex_match(line, std::regex("OK [0-9]+\n"))) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  std::string ip_, netns_, vsock_root_;
  int original_netns_ = -1;
  std::vector<Guest> guests_;
  std::atomic<bool> stop_{false};
};

std::array<uint8_t, 6> MacBytes(const std::string& mac) {
  std::array<uint8_t, 6> bytes{};
  std::sscanf(mac.c_str(), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &bytes[0], &bytes[1], &bytes[2], &bytes[3], &bytes[4],
              &bytes[5]);
  return bytes;
}

// The hash and byte count network_init printed for transfer `name`.
std::pair<std::string, uint64_t> GuestReport(const std::string& console, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(console, match, std::regex("vmmd-net: " + name + " ([0-9a-f]{16}) ([0-9]+) "))) {
    return {"(none)", 0};
  }
  return {match[1], std::stoull(match[2])};
}

TEST_F(LinuxNetworkTest, TwoGuestsMoveTheirOwnTrafficOverTapsAndVsock) {
  ASSERT_TRUE(::vmmd::testing::ModulesFetched(cache_));
  // Seeds from the clock, different for every stream of both VMs.
  const uint64_t base = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  for (int i = 0; i < 2; ++i) {
    Guest guest;
    guest.name = i == 0 ? "a" : "b";
    guest.tap = "vmmd-tap-" + guest.name;
    guest.host_ip = absl::StrCat("10.201.", i + 1, ".1");
    guest.guest_ip = absl::StrCat("10.201.", i + 1, ".2");
    guest.mac = absl::StrFormat("02:00:0a:c9:%02x:02", i + 1);
    guest.mac_bytes = MacBytes(guest.mac);
    guest.cid = 3 + i;
    guest.uds_path = absl::StrCat(vsock_root_, "/", guest.name, ".sock");
    guest.down_seed = base + 10 * i + 1;
    guest.up_seed = base + 10 * i + 2;
    guest.echo_seed = base + 10 * i + 3;
    guest.out_seed = base + 10 * i + 4;
    guest.in_seed = base + 10 * i + 5;
    guests_.push_back(std::move(guest));
  }
  for (Guest& guest : guests_) {
    PrepareHostSide(guest);
    ASSERT_FALSE(HasFailure());
  }
  for (int i = 0; i < 2; ++i) {
    Guest& guest = guests_[i];
    const Guest& other = guests_[1 - i];
    in_addr other_ip = {};
    ::inet_pton(AF_INET, other.guest_ip.c_str(), &other_ip);
    guest.frames = std::make_unique<FrameCounter>(guest.tap, guest.mac_bytes, other.mac_bytes, other_ip.s_addr);
    ASSERT_EQ(guest.frames->error(), "");
  }

  const std::string initrd = daemon_->ImagePath("network.cpio");
  ASSERT_TRUE(WriteFile(initrd, GuestInitramfs(cache_, kInit)));
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + kRunBound;
  for (Guest& guest : guests_) StartHostSide(guest, deadline);

  std::vector<std::unique_ptr<KernelRun>> runs;
  for (int i = 0; i < 2; ++i) {
    const Guest& guest = guests_[i];
    vmm::v1::CreateVmRequest create;
    create.set_vcpu_count(1);
    create.set_memory_mib(256);
    vmm::v1::NetworkInterface* interface = create.add_network_interfaces();
    interface->set_iface_id("eth0");
    interface->set_host_dev_name(guest.tap);
    interface->set_guest_mac(guest.mac);
    create.mutable_vsock()->set_guest_cid(guest.cid);
    create.mutable_vsock()->set_uds_path(guest.uds_path);
    vmm::v1::ConfigureBootRequest configure;
    configure.set_kernel_path(cache_ + "/vmlinuz-generic");
    configure.set_initrd_path(initrd);
    configure.set_cmdline(guest.Cmdline(guests_[1 - i]));
    configure.set_acpi("off");  // the devices on the command line (virtio_mmio_cmdline.ko)
    runs.push_back(std::make_unique<KernelRun>(stub_.get(), "net-" + guest.name));
    const vmm::v1::BootInfo info = runs.back()->Boot(create, configure);
    ASSERT_FALSE(HasFailure()) << "VM " << guest.name << " did not start";
    ASSERT_EQ(info.devices_size(), 2) << info.DebugString();
    EXPECT_EQ(info.devices(0).kind(), "virtio-net");
    EXPECT_EQ(info.devices(1).kind(), "virtio-vsock");
  }

  std::vector<std::string> consoles;
  for (auto& run : runs) consoles.push_back(run->WaitForStop(std::max(deadline - absl::Now(), absl::Seconds(1))));
  std::cerr << "both VMs stopped after " << absl::FormatDuration(absl::Now() - start) << "\n";
  stop_ = true;
  for (Guest& guest : guests_) {
    for (std::thread& thread : guest.threads) thread.join();
    guest.frames->Stop();
  }

  for (int i = 0; i < 2; ++i) {
    const Guest& guest = guests_[i];
    const std::string& console = consoles[i];
    SCOPED_TRACE("VM " + guest.name);
    ExpectInitChecks(console, "vmmd-net", kGuestChecks);
    const vmm::v1::Vm vm = runs[i]->Get();
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
    EXPECT_EQ(vm.exit_reason(), "guest reset");

    // The host's ends, and the guest's hashes of what the host sent.
    // Each transfer moves `size` bytes each way: the host sent its stream, received the
    // guest's stream `guest_seed`, and the guest printed `guest_report` for what it received.
    auto expect_transfer = [&](const char* what, const Transfer& transfer, uint64_t size, uint64_t guest_seed,
                               const std::string& guest_report) {
      EXPECT_EQ(transfer.error, "") << what;
      EXPECT_EQ(transfer.sent.bytes, size) << what;
      EXPECT_EQ(transfer.received.bytes, size) << what;
      EXPECT_EQ(Hex(transfer.received.value), Hex(stream_expected_hash(guest_seed, size)))
          << what << ": the host received other bytes than the guest's stream";
      const auto [hash, bytes] = GuestReport(console, guest_report);
      EXPECT_EQ(hash, Hex(transfer.sent.value)) << what << ": the guest received other bytes than the host sent";
      EXPECT_EQ(bytes, size) << what;
      std::cerr << "VM " << guest.name << " " << what << ": " << transfer.sent.bytes << " bytes sent, "
                << transfer.received.bytes << " received in " << absl::FormatDuration(transfer.took) << "\n";
    };
    EXPECT_EQ(guest.tcp_peer, guest.guest_ip) << "the TCP connection came from elsewhere";
    expect_transfer("tcp", guest.tcp, kTcpBytes, guest.up_seed, "tcp-rx");
    // The echo: what came back is the host's own stream.
    expect_transfer("vsock echo", guest.echo, kVsockBytes, guest.echo_seed, "vsock-echo");
    expect_transfer("vsock to CID 2", guest.vsock, kVsockBytes, guest.out_seed, "vsock-in");

    // What the devices counted.
    ASSERT_EQ(vm.devices_size(), 2) << vm.DebugString();
    const vmm::v1::DeviceCounters& net = vm.devices(0);
    const vmm::v1::DeviceCounters& vsock = vm.devices(1);
    std::cerr << "VM " << guest.name << " counters:\n  " << net.ShortDebugString() << "\n  "
              << vsock.ShortDebugString() << "\n";
    EXPECT_EQ(net.id(), "eth0");
    EXPECT_EQ(vsock.id(), "vsock");
    EXPECT_GE(net.bytes_read(), kTcpBytes);
    EXPECT_LT(net.bytes_read(), kTcpBytes * 5 / 4) << "more came in than this VM's traffic";
    EXPECT_GE(net.bytes_written(), kTcpBytes);
    EXPECT_LT(net.bytes_written(), kTcpBytes * 5 / 4) << "more went out than this VM's traffic";
    EXPECT_GT(net.packets_received(), 0u);
    EXPECT_GT(net.packets_sent(), 0u);
    EXPECT_EQ(vsock.bytes_read(), 2 * kVsockBytes) << "payload into the guest: the echo's and the stream's";
    EXPECT_EQ(vsock.bytes_written(), 2 * kVsockBytes) << "payload out of the guest: the echo's and the stream's";
    for (const vmm::v1::DeviceCounters& device : vm.devices()) {
      EXPECT_EQ(device.errors(), 0u) << device.DebugString();
      EXPECT_GT(device.notifications(), 0u) << device.DebugString();
      EXPECT_GT(device.interrupts(), 0u) << device.DebugString();
      EXPECT_EQ(device.refused_accesses(), 0u) << device.DebugString();
      EXPECT_EQ(device.needs_reset(), 0u) << device.DebugString();
    }

    // What each tap carried.
    const FrameCounter::Counts& frames = guest.frames->counts();
    std::cerr << "tap " << guest.tap << ": " << frames.frames << " frames, " << frames.own << " from its guest, "
              << frames.probes << " ARP probes for the other guest, " << frames.foreign
              << " of the other guest, " << frames.kernel_drops << " lost by the packet socket\n";
    EXPECT_GT(frames.own, 0u) << "the packet socket saw none of its guest's frames";
    EXPECT_GT(frames.probes, 0u) << "the guest's probe of the other guest never reached its tap";
    EXPECT_EQ(frames.foreign, 0u) << "the other guest's frames reached " << guest.tap;
  }
}

}  // namespace
}  // namespace vmmd
