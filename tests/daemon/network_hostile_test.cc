// Hostile guests on virtio-net and virtio-vsock, through the real vmmd binary, real taps and
// real Unix sockets (tag: requires-kvm; taps need root, which the test VM gives).
//
//  - Malformed transmit chains (tests/guest/virtio_net_hostile_guest.c, net_hostile=tx): the
//    guest checks from the inside that each is dropped and returned, or breaks the ring
//    (DEVICE_NEEDS_RESET) until a reset; the test reads the guest's well-formed frames from
//    the tap with a packet socket (none lost, in order), and checks the counters.
//  - A guest that posts no receive buffers while the test floods its tap with 100,000
//    frames (net_hostile=rx): the daemon's memory stays put (the device holds one packet; the
//    tap's kernel queue drops the rest), other VMs boot and run, and once the guest posts
//    buffers it receives again.
//  - A vsock guest that ignores credit and asks for more connections than a VM may hold,
//    against host listeners that never accept nor read: the connection is reset, the rest
//    refused, and the daemon's memory and descriptors stay within the device's bounds.
// In each, an idle neighbour VM runs throughout and must not notice, and a hello guest boots
// and runs to its end while the hostile one is at its worst.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "tests/daemon/memory_bounds.h"
#include "tests/guest/net_hostile_protocol.h"
#include "tests/guest/vsock_hostile_protocol.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::BootAndFollowConsole;
using ::vmmd::testing::BootGuest;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;
using ::vmmd::testing::GetVmOrFail;
using ::vmmd::testing::kMemoryBoundsApply;
using ::vmmd::testing::ReadConsole;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kNetGuest[] = "tests/guest/virtio_net_hostile_guest.elf";
constexpr char kVsockGuest[] = "tests/guest/vsock_hostile_guest.elf";
constexpr char kIdleGuest[] = "tests/guest/idle_guest.elf";
constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
constexpr char kIdleLine[] = "idle guest ready\r\n";  // tests/guest/idle_guest.c
constexpr auto kConsoleDeadline = std::chrono::seconds(300);

constexpr uint64_t kMiB = uint64_t{1} << 20;
// What the daemon may grow by while a guest starves its receive queue under a flood: the
// device holds one packet, in a buffer of kMaxPacketLength + 1 bytes allocated at creation
// (devices/virtio/net/net_device.h), and reads nothing more until the guest posts buffers;
// the tap's kernel queue (tx_queue_len packets, kernel memory) drops the rest. Nothing per packet:
// the bound is the allocator's and THP's granularity (2 MiB pages), with room for a few.
constexpr uint64_t kRxFloodGrowthBound = 8 * kMiB;
constexpr int kFloodFrames = 100000;
// vsock (devices/virtio/vsock/vsock_device.h, VsockLimits): at most 1024 connections, each
// buffering at most buffer_size (256 KiB) of guest bytes its host has not taken. This guest
// fills one connection's buffer (the credit one, then reset) and holds 1024 idle
// connections, each a Connection and a socket (a few hundred bytes of bookkeeping; 4 KiB
// allowed), plus the allocator's and THP's granularity.
constexpr uint64_t kVsockMaxConnections = 1024;
constexpr uint64_t kVsockBufferBytes = 256 * 1024;
constexpr uint64_t kVsockGrowthBound =
    kVsockBufferBytes + kVsockMaxConnections * 4096 + 8 * kMiB;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / kMiB; }

// --- The host side of a tap ------------------------------------------------------------------

// Brings `tap` up (a tap's writes fail with EIO while it is down) with IPv6 off on it, so that
// the kernel sends nothing of its own (router solicitations) for the device to hold or drop.
void PrepareTap(const std::string& tap) {
  std::ofstream(absl::StrCat("/proc/sys/net/ipv6/conf/", tap, "/disable_ipv6")) << "1\n";
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ifreq request{};
  std::strncpy(request.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  ASSERT_EQ(::ioctl(fd, SIOCGIFFLAGS, &request), 0) << tap << ": " << std::strerror(errno);
  request.ifr_flags |= IFF_UP;
  ASSERT_EQ(::ioctl(fd, SIOCSIFFLAGS, &request), 0) << tap << ": " << std::strerror(errno);
  ::close(fd);
}

// A packet socket on `tap` for frames of `ethertype`: what the guest sends arrives on it, and
// what is sent on it goes out of the tap to vmmd.
int OpenPacketSocket(const std::string& tap, uint16_t ethertype) {
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ethertype));
  EXPECT_GE(fd, 0) << "socket(AF_PACKET): " << std::strerror(errno);
  if (fd < 0) return -1;
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ethertype);
  address.sll_ifindex = static_cast<int>(::if_nametoindex(tap.c_str()));
  EXPECT_NE(address.sll_ifindex, 0) << tap;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
      << std::strerror(errno);
  return fd;
}

// A NET_HOSTILE_FRAME_BYTES frame from the test: broadcast, EtherType
// NET_HOSTILE_HOST_ETHERTYPE, payload `tag` then `sequence`.
std::array<uint8_t, NET_HOSTILE_FRAME_BYTES> HostFrame(char tag, uint32_t sequence) {
  std::array<uint8_t, NET_HOSTILE_FRAME_BYTES> frame{};
  std::fill_n(frame.begin(), 6, 0xff);
  const uint8_t source[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::copy_n(source, 6, frame.begin() + 6);
  frame[12] = NET_HOSTILE_HOST_ETHERTYPE >> 8;
  frame[13] = NET_HOSTILE_HOST_ETHERTYPE & 0xff;
  frame[NET_HOSTILE_PAYLOAD_OFFSET] = static_cast<uint8_t>(tag);
  std::memcpy(frame.data() + NET_HOSTILE_PAYLOAD_OFFSET + 1, &sequence, sizeof(sequence));
  return frame;
}

uint64_t TapCounter(const std::string& tap, const std::string& name) {
  return std::strtoull(
      ReadFile(absl::StrCat("/sys/class/net/", tap, "/statistics/", name)).c_str(), nullptr, 10);
}

// The tap's queue toward its reader (vmmd), in packets: what the kernel holds at most.
uint64_t TapQueueLength(const std::string& tap) {
  return std::strtoull(ReadFile(absl::StrCat("/sys/class/net/", tap, "/tx_queue_len")).c_str(),
                       nullptr, 10);
}

std::string MacText(const uint8_t* mac) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                         mac[5]);
}

// --- Unix sockets for vsock ------------------------------------------------------------------

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  return address;
}

// A listener at `path` that is never accepted from: connections wait in its backlog (4096,
// Linux's default somaxconn), and what they send waits in their receive queues.
int ListenUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  const sockaddr_un address = UnixAddress(path);
  EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0)
      << path << ": " << std::strerror(errno);
  EXPECT_EQ(::listen(fd, 4096), 0) << std::strerror(errno);
  return fd;
}

class NetworkHostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    // Short: every "<uds_path>_<port>" must fit a sockaddr_un.
    std::string pattern = "/tmp/vmmd-vsock-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    vsock_root_ = pattern;
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(kDaemon, {kNetGuest, kVsockGuest, kIdleGuest, kHelloGuest},
                             {absl::StrCat("--vsock_root=", vsock_root_)});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
    for (const int fd : fds_) ::close(fd);
    daemon_.reset();  // SIGKILL if still running: its taps and sockets go with it
    std::error_code ignored;
    std::filesystem::remove_all(vsock_root_, ignored);
  }

  int Keep(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

  vmm::v1::Vm GetVm(const std::string& vm_id) { return GetVmOrFail(*stub_, vm_id); }

  // The console ring now (`follow` false), or until the VM stops (true).
  std::string Console(const std::string& vm_id, bool follow) {
    return ReadConsole(*stub_, vm_id, follow, kConsoleDeadline);
  }

  // Polls the console until it holds `text` (true) or the VM stops or kConsoleDeadline
  // passes (false, with the console in a failure).
  bool WaitForConsole(const std::string& vm_id, const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + kConsoleDeadline;
    std::string console;
    while (std::chrono::steady_clock::now() < deadline) {
      console = Console(vm_id, false);
      if (console.find(text) != std::string::npos) return true;
      if (GetVm(vm_id).state() == vmm::v1::VM_STATE_STOPPED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << vm_id << " never printed " << text << "; its console:\n" << console;
    return false;
  }

  grpc::Status CreateVm(const vmm::v1::CreateVmRequest& request) {
    vmm::v1::Vm vm;
    return stub_->CreateVm(Context().get(), request, &vm);
  }

  // ConfigureBoot(`guest`, `cmdline`) -> StartVcpus for a created VM.
  grpc::Status ConfigureAndStart(const std::string& vm_id, const std::string& guest,
                                 const std::string& cmdline) {
    vmm::v1::ConfigureBootRequest configure;
    configure.set_vm_id(vm_id);
    configure.set_kernel_path(daemon_->ImagePath(guest));
    configure.set_cmdline(cmdline);
    vmm::v1::BootInfo info;
    grpc::Status status = stub_->ConfigureBoot(Context().get(), configure, &info);
    if (!status.ok()) return status;
    vmm::v1::StartVcpusRequest start;
    start.set_vm_id(vm_id);
    vmm::v1::Vm vm;
    return stub_->StartVcpus(Context().get(), start, &vm);
  }

  static vmm::v1::CreateVmRequest NetVmRequest(const std::string& vm_id, const std::string& tap) {
    vmm::v1::CreateVmRequest request;
    request.set_vm_id(vm_id);
    request.set_vcpu_count(1);
    request.set_memory_mib(32);
    vmm::v1::NetworkInterface* interface = request.add_network_interfaces();
    interface->set_iface_id("eth0");
    interface->set_host_dev_name(tap);
    return request;
  }

  // The neighbour: the idle guest, RUNNING (halted) until deleted.
  void StartNeighbour() {
    const grpc::Status booted = BootGuest(*stub_, *daemon_, "neighbour", "idle_guest.elf");
    ASSERT_TRUE(booted.ok()) << booted.error_message();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    vmm::v1::Vm neighbour;
    while (neighbour.console_bytes() < std::strlen(kIdleLine) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      neighbour = GetVm("neighbour");
    }
    ASSERT_EQ(neighbour.console_bytes(), std::strlen(kIdleLine));
  }

  // The neighbour noticed nothing, the daemon lists every VM, and a new VM boots and runs
  // its hello guest to the end.
  void ExpectOthersFine(const std::string& hello_vm_id, int vms_before_hello) {
    const vmm::v1::Vm neighbour = GetVm("neighbour");
    EXPECT_EQ(neighbour.state(), vmm::v1::VM_STATE_RUNNING);
    EXPECT_EQ(neighbour.exit_reason(), "");
    EXPECT_EQ(neighbour.console_bytes(), std::strlen(kIdleLine));
    vmm::v1::ListVmsResponse list;
    ASSERT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list).ok());
    EXPECT_EQ(list.vms_size(), vms_before_hello);
    const std::string hello = BootAndFollowConsole(*stub_, *daemon_, hello_vm_id, "hello_guest.elf",
                                                   1, 32, "console=ttyS0");
    EXPECT_THAT(hello, HasSubstr("hello guest done"));
    EXPECT_EQ(GetVm(hello_vm_id).exit_reason(), "guest reset");
  }

  const vmm::v1::DeviceCounters* Device(const vmm::v1::Vm& vm, const std::string& kind) {
    for (const vmm::v1::DeviceCounters& device : vm.devices()) {
      if (device.kind() == kind) return &device;
    }
    ADD_FAILURE() << vm.vm_id() << " has no " << kind << " device";
    return nullptr;
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
  std::string vsock_root_;
  std::vector<int> fds_;
};

TEST_F(NetworkHostileTest, MalformedTransmitChainsAreRefusedAndNoWellFormedFrameIsLost) {
  StartNeighbour();
  const uint64_t rss_before = daemon_->ResidentMemoryBytes();
  const std::string tap = "vnhtx0";
  const grpc::Status created = CreateVm(NetVmRequest("net-tx", tap));
  ASSERT_TRUE(created.ok()) << created.error_message();
  PrepareTap(tap);
  const int frames = Keep(OpenPacketSocket(tap, NET_HOSTILE_GUEST_ETHERTYPE));
  ASSERT_GE(frames, 0);
  const grpc::Status started = ConfigureAndStart("net-tx", "virtio_net_hostile_guest.elf",
                                                 NET_HOSTILE_MODE_TX);
  ASSERT_TRUE(started.ok()) << started.error_message();
  const std::string console = Console("net-tx", true);
  EXPECT_THAT(console, Not(HasSubstr("UNEXPECTED")));
  EXPECT_THAT(console, HasSubstr(NET_HOSTILE_PREFIX "0 unexpected observations\r\n"));
  const vmm::v1::Vm vm = GetVm("net-tx");
  EXPECT_EQ(vm.exit_reason(), "guest exit code 0") << console;

  // Every well-formed frame, in order, as the guest built it; nothing else of the guest's.
  ASSERT_EQ(vm.network_interfaces_size(), 1);
  const std::string mac = vm.network_interfaces(0).guest_mac();
  std::vector<uint32_t> sequences;
  while (true) {
    pollfd ready{frames, POLLIN, 0};
    if (::poll(&ready, 1, sequences.size() < NET_HOSTILE_VALID_FRAMES ? 10000 : 500) <= 0) break;
    uint8_t buffer[2048];
    sockaddr_ll from{};
    socklen_t from_length = sizeof(from);
    const ssize_t got = ::recvfrom(frames, buffer, sizeof(buffer), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
    ASSERT_GT(got, 0) << std::strerror(errno);
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    EXPECT_EQ(got, NET_HOSTILE_FRAME_BYTES);
    EXPECT_EQ(MacText(buffer + 6), mac);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer) + NET_HOSTILE_PAYLOAD_OFFSET,
                          NET_HOSTILE_TX_TAG_BYTES),
              NET_HOSTILE_TX_TAG);
    uint32_t sequence = 0;
    std::memcpy(&sequence, buffer + NET_HOSTILE_PAYLOAD_OFFSET + NET_HOSTILE_TX_TAG_BYTES,
                sizeof(sequence));
    sequences.push_back(sequence);
  }
  std::vector<uint32_t> expected(NET_HOSTILE_VALID_FRAMES);
  for (uint32_t i = 0; i < expected.size(); ++i) expected[i] = i;
  EXPECT_EQ(sequences, expected) << "the well-formed frames the tap delivered";

  const vmm::v1::DeviceCounters* net = Device(vm, "virtio-net");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->packets_sent(), NET_HOSTILE_VALID_FRAMES);
  EXPECT_EQ(net->errors(), NET_HOSTILE_DROPPED_CHAINS);
  EXPECT_EQ(net->drops(), NET_HOSTILE_DROPPED_CHAINS);
  EXPECT_EQ(net->needs_reset(), NET_HOSTILE_BROKEN_RINGS);
  EXPECT_EQ(net->packets_received(), 0u);

  ExpectOthersFine("hello-tx", 2);
  const uint64_t rss_after = daemon_->ResidentMemoryBytes();
  std::cerr << absl::StrFormat("vmmd RSS: %.1f MiB with the neighbour, %.1f MiB after the "
                               "hostile tx guest and a hello guest\n",
                               MiB(rss_before), MiB(rss_after));
}

TEST_F(NetworkHostileTest, AGuestWithoutReceiveBuffersUnderAFloodCostsTheDaemonNothing) {
  StartNeighbour();
  const std::string tap = "vnhrx0";
  // The guest's signal: sector 0 of a read-write drive, polled by the guest.
  const std::string image = daemon_->ImagePath("signal.img");
  std::ofstream(image, std::ios::binary) << std::string(4096, '\0');
  vmm::v1::CreateVmRequest request = NetVmRequest("net-rx", tap);
  vmm::v1::Drive* drive = request.add_drives();
  drive->set_drive_id("signal");
  drive->set_path(image);
  const grpc::Status created = CreateVm(request);
  ASSERT_TRUE(created.ok()) << created.error_message();
  PrepareTap(tap);
  const int flood = Keep(OpenPacketSocket(tap, NET_HOSTILE_HOST_ETHERTYPE));
  ASSERT_GE(flood, 0);
  const grpc::Status started = ConfigureAndStart("net-rx", "virtio_net_hostile_guest.elf",
                                                 NET_HOSTILE_MODE_RX);
  ASSERT_TRUE(started.ok()) << started.error_message();
  ASSERT_TRUE(WaitForConsole("net-rx", NET_HOSTILE_READY_LINE "\r\n"));

  const uint64_t rss_before = daemon_->ResidentMemoryBytes();
  const uint64_t dropped_before = TapCounter(tap, "tx_dropped");
  uint64_t rss_peak = rss_before;
  int sent = 0, refused = 0;
  const auto flood_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kFloodFrames; ++i) {
    const auto frame = HostFrame(NET_HOSTILE_FLOOD_TAG, static_cast<uint32_t>(i));
    if (::send(flood, frame.data(), frame.size(), MSG_DONTWAIT) == static_cast<ssize_t>(frame.size())) {
      ++sent;
    } else {
      ++refused;  // ENOBUFS or EAGAIN: the kernel's, not the daemon's
    }
    if (i % 10000 == 9999) rss_peak = std::max(rss_peak, daemon_->ResidentMemoryBytes());
  }
  const double flood_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - flood_start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the loop catches up
  rss_peak = std::max(rss_peak, daemon_->ResidentMemoryBytes());
  const uint64_t dropped = TapCounter(tap, "tx_dropped") - dropped_before;
  std::cerr << absl::StrFormat(
      "flood: %d frames sent (%d refused by the kernel) in %.1f s; the tap dropped %d; vmmd RSS "
      "%.1f MiB before, at most %.1f MiB during and after (bound: +%.0f MiB)\n",
      sent, refused, flood_seconds, dropped, MiB(rss_before), MiB(rss_peak),
      MiB(kRxFloodGrowthBound));
  EXPECT_GT(sent, kFloodFrames / 2);
  // The frames went nowhere but the kernel's bin: the tap's queue and the one packet the
  // device holds are all that can wait.
  const uint64_t queue_length = TapQueueLength(tap);
  EXPECT_GE(dropped + refused, kFloodFrames - queue_length - 1);
  if (kMemoryBoundsApply) EXPECT_LE(rss_peak - rss_before, kRxFloodGrowthBound);

  vmm::v1::Vm vm = GetVm("net-rx");
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  const vmm::v1::DeviceCounters* net = Device(vm, "virtio-net");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->packets_received(), 0u) << "the guest has no buffers";
  ExpectOthersFine("hello-rx", 2);

  // Go: the guest posts buffers, and must get frames again: the one the device held, what
  // the tap queued, then a marker (sent until the guest says it had one).
  {
    std::fstream signal(image, std::ios::binary | std::ios::in | std::ios::out);
    signal << NET_HOSTILE_GO;
  }
  const std::string received_line = NET_HOSTILE_PREFIX "received ";
  const auto deadline = std::chrono::steady_clock::now() + kConsoleDeadline;
  for (uint32_t marker = 0; std::chrono::steady_clock::now() < deadline; ++marker) {
    const auto frame = HostFrame(NET_HOSTILE_MARKER_TAG, marker);
    (void)::send(flood, frame.data(), frame.size(), MSG_DONTWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Console("net-rx", false).find(received_line) != std::string::npos) break;
    if (GetVm("net-rx").state() == vmm::v1::VM_STATE_STOPPED) break;
  }
  const std::string console = Console("net-rx", true);
  EXPECT_THAT(console, HasSubstr(received_line));
  EXPECT_THAT(console, Not(HasSubstr("UNEXPECTED")));
  EXPECT_THAT(console, HasSubstr(NET_HOSTILE_PREFIX "0 unexpected observations\r\n"));
  vm = GetVm("net-rx");
  EXPECT_EQ(vm.exit_reason(), "guest exit code 0") << console;
  net = Device(vm, "virtio-net");
  ASSERT_NE(net, nullptr);
  EXPECT_GE(net->packets_received(), 2u) << "the held flood frame and the marker at least";
  EXPECT_EQ(net->needs_reset(), 0u);
  // What waited for the guest: the packet the device held and the tap's queue, no more.
  std::smatch match;
  ASSERT_TRUE(std::regex_search(console, match, std::regex("received ([0-9]+) flood frames[^\r]*")))
      << console;
  std::cerr << "net-rx: " << match.str() << " (the tap's queue: " << queue_length << ")\n";
  EXPECT_LE(std::stoull(match[1].str()), queue_length + 1);
}

TEST_F(NetworkHostileTest, AVsockGuestIgnoringCreditAndBoundsIsResetAndHeldToTheBounds) {
  StartNeighbour();
  const std::string uds_path = vsock_root_ + "/v.sock";
  const int credit_listener =
      Keep(ListenUnix(absl::StrCat(uds_path, "_", VSOCK_HOSTILE_CREDIT_PORT)));
  const int flood_listener = Keep(ListenUnix(absl::StrCat(uds_path, "_", VSOCK_HOSTILE_FLOOD_PORT)));
  ASSERT_GE(credit_listener, 0);
  ASSERT_GE(flood_listener, 0);
  vmm::v1::CreateVmRequest request;
  request.set_vm_id("vsock");
  request.set_vcpu_count(1);
  request.set_memory_mib(32);
  request.mutable_vsock()->set_guest_cid(3);
  request.mutable_vsock()->set_uds_path(uds_path);
  const grpc::Status created = CreateVm(request);
  ASSERT_TRUE(created.ok()) << created.error_message();
  const grpc::Status started = ConfigureAndStart("vsock", "vsock_hostile_guest.elf", "");
  ASSERT_TRUE(started.ok()) << started.error_message();
  ASSERT_TRUE(WaitForConsole("vsock", VSOCK_HOSTILE_READY_LINE "\r\n"));

  const uint64_t rss_before = daemon_->ResidentMemoryBytes();
  const int fds_before = daemon_->OpenFdCount();
  // Go: a host program asks for the guest's go port (Firecracker's CONNECT line).
  const int go = Keep(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un address = UnixAddress(uds_path);
  ASSERT_EQ(::connect(go, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0)
      << std::strerror(errno);
  const std::string connect_line = absl::StrCat("CONNECT ", VSOCK_HOSTILE_GO_PORT, "\n");
  ASSERT_EQ(::write(go, connect_line.data(), connect_line.size()),
            static_cast<ssize_t>(connect_line.size()));
  ASSERT_TRUE(WaitForConsole("vsock", VSOCK_HOSTILE_HOLDING_LINE "\r\n"));

  const uint64_t rss_after = daemon_->ResidentMemoryBytes();
  const int fds_after = daemon_->OpenFdCount();
  const std::string console = Console("vsock", false);
  std::cerr << absl::StrFormat(
      "vsock: vmmd RSS %.1f MiB before, %.1f MiB holding the connections (bound: +%.1f MiB); "
      "fds %d before, %d after\n",
      MiB(rss_before), MiB(rss_after), MiB(kVsockGrowthBound), fds_before, fds_after);
  EXPECT_THAT(console, Not(HasSubstr("UNEXPECTED")));
  EXPECT_THAT(console, HasSubstr(VSOCK_HOSTILE_PREFIX "0 unexpected observations\r\n"));
  std::smatch credit;
  ASSERT_TRUE(std::regex_search(
      console, credit,
      std::regex("credit: reset after ([0-9]+) bytes; the device's buf_alloc ([0-9]+), fwd_cnt "
                 "([0-9]+)")))
      << console;
  std::cerr << "vsock: " << credit.str() << "\n";
  EXPECT_EQ(credit[2].str(), std::to_string(kVsockBufferBytes));
  EXPECT_THAT(console, HasSubstr(absl::StrCat("flood: ", kVsockMaxConnections, " responses, ",
                                              VSOCK_HOSTILE_FLOOD_REQUESTS - kVsockMaxConnections,
                                              " resets of ", VSOCK_HOSTILE_FLOOD_REQUESTS,
                                              " requests")));
  // One socket per connection held, and no more.
  EXPECT_LE(fds_after - fds_before, static_cast<int>(kVsockMaxConnections) + 4);
  EXPECT_GE(fds_after - fds_before, static_cast<int>(kVsockMaxConnections) - 4);
  if (kMemoryBoundsApply) EXPECT_LE(rss_after, rss_before + kVsockGrowthBound);

  const vmm::v1::Vm vm = GetVm("vsock");
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_RUNNING);
  const vmm::v1::DeviceCounters* vsock = Device(vm, "virtio-vsock");
  ASSERT_NE(vsock, nullptr);
  // The credit connection's reset and the refused requests at least.
  EXPECT_GE(vsock->drops(), 1 + VSOCK_HOSTILE_FLOOD_REQUESTS - kVsockMaxConnections);
  EXPECT_EQ(vsock->needs_reset(), 0u);
  ExpectOthersFine("hello-vsock", 2);

  // Deleting the VM lets every connection go.
  vmm::v1::DeleteVmRequest remove;
  remove.set_vm_id("vsock");
  vmm::v1::DeleteVmResponse removed;
  const grpc::Status deleted = stub_->DeleteVm(Context().get(), remove, &removed);
  ASSERT_TRUE(deleted.ok()) << deleted.error_message();
  const int connections_gone = ::vmmd::testing::WaitForValue(1, absl::Seconds(30), [&] {
    return daemon_->OpenFdCount() <= fds_before + 16 ? 1 : 0;
  });
  EXPECT_EQ(connections_gone, 1) << "vmmd's fds: " << daemon_->OpenFdTargets();
}

}  // namespace
}  // namespace vmmd
