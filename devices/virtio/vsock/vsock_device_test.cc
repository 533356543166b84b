// VsockDevice end to end: the guest's driver on fake guest memory (vsock_test_harness.h),
// the device on a real EventLoop, and real Unix sockets for the host side.
#include "devices/virtio/vsock/vsock_device.h"

#include <errno.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/event_loop.h"
#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/vsock/packet.h"
#include "devices/virtio/vsock/unix_socket.h"
#include "devices/virtio/vsock/vsock_test_harness.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::virtio {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::StatusIs;
using vsock::kHeaderSize;
using vsock::kHostCid;
using vsock::testing::ConnectTo;
using vsock::testing::Flag;
using vsock::testing::GuestHeader;
using vsock::testing::kGuestBufAlloc;
using vsock::testing::kGuestCid;
using vsock::testing::Packet;
using vsock::testing::ReadBytes;
using vsock::testing::ReadLine;
using vsock::testing::Readable;
using vsock::testing::SeesEof;
using vsock::testing::VsockHarness;
using vsock::testing::WaitUntil;
using vsock::testing::WriteAll;

constexpr uint32_t kServicePort = 52;
constexpr auto kQuiet = std::chrono::milliseconds(200);

// A directory for the test's sockets: under $TEST_TMPDIR when the paths fit a sockaddr_un
// there, otherwise under /tmp.
std::string SocketDir() {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string base = tmp != nullptr && std::string(tmp).size() < 60 ? tmp : "/tmp";
  std::string dir = base + "/vsock-XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr) << strerror(errno);
  return dir;
}

// Byte i of a test stream.
std::string Pattern(size_t length, uint32_t seed) {
  std::string out(length, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < length; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

// FNV-1a, the checksum the large transfer compares.
uint64_t Checksum(const std::string& bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

class VsockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = SocketDir();
    uds_ = dir_ + "/v.sock";
  }

  void TearDown() override {
    if (harness_ != nullptr) {
      EXPECT_THAT(harness_->failures(), IsEmpty());
    }
    harness_.reset();
    listeners_.clear();
    EXPECT_NE(::access(uds_.c_str(), F_OK), 0) << "the device unlinks its socket";
    for (const std::string& path : unlink_) ::unlink(path.c_str());
    ::rmdir(dir_.c_str());
  }

  void Start(VsockHarness::Options options = {}) {
    harness_ = VsockHarness::Create(uds_, options);
    ASSERT_NE(harness_, nullptr);
  }

  // A host service listening at <uds>_<port>.
  int Listen(uint32_t port) {
    const std::string path = vsock::PortSocketPath(uds_, port);
    absl::StatusOr<UniqueFd> listener = vsock::ListenUnix(path);
    EXPECT_OK(listener);
    unlink_.push_back(path);
    listeners_.push_back(std::move(*listener));
    return listeners_.back().get();
  }
  // The next connection the service accepts (blocking), within a few seconds.
  UniqueFd Accept(int listener) {
    if (!Readable(listener, std::chrono::seconds(10))) {
      ADD_FAILURE() << "no connection reached the host service";
      return UniqueFd();
    }
    UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << strerror(errno);
    return fd;
  }

  // A guest that respects the device's credit (`window` bytes) sends on `guest_port` what it
  // may, then waits for a CREDIT_UPDATE; until `done()`, 1 MiB, or no credit and none coming.
  // Returns the bytes sent.
  uint32_t SendWithinCredit(uint32_t guest_port, uint32_t window,
                            const std::function<bool()>& done) {
    uint32_t sent = 0, device_fwd_cnt = 0;
    while (!done() && sent < 1024 * 1024) {
      const uint32_t credit = window - (sent - device_fwd_cnt);
      if (credit > 0) {
        harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, guest_port, kServicePort, credit),
                       std::string(credit, 'x'));
        sent += credit;
      }
      std::optional<Packet> update =
          harness_->ReceiveOp(VIRTIO_VSOCK_OP_CREDIT_UPDATE, guest_port, nullptr, kQuiet);
      if (update) {
        device_fwd_cnt = update->header.fwd_cnt;
      } else if (credit == 0) {
        break;  // no credit, and none coming
      }
    }
    return sent;
  }

  // The guest connects from `guest_port` to the host service on `port`: REQUEST, RESPONSE.
  // Returns the service's end.
  UniqueFd GuestConnect(uint32_t guest_port, int listener, uint32_t port = kServicePort,
                        uint32_t buf_alloc = kGuestBufAlloc) {
    harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, guest_port, port, 0, buf_alloc));
    std::optional<Packet> response = harness_->ReceiveOp(VIRTIO_VSOCK_OP_RESPONSE, guest_port);
    EXPECT_TRUE(response) << "no RESPONSE";
    return Accept(listener);
  }

  // A host program connects to the device and asks for guest port `port`; the guest sees
  // the REQUEST and answers. Returns the program's socket; `host_port` gets the port.
  UniqueFd HostConnect(uint32_t port, uint32_t* host_port, uint32_t buf_alloc = kGuestBufAlloc) {
    UniqueFd program = ConnectTo(uds_);
    WriteAll(program.get(), absl::StrCat("CONNECT ", port, "\n"));
    std::optional<Packet> request = harness_->ReceiveOp(VIRTIO_VSOCK_OP_REQUEST, port);
    EXPECT_TRUE(request) << "no REQUEST reached the guest";
    if (!request) return program;
    *host_port = request->header.src_port;
    harness_->Send(
        GuestHeader(VIRTIO_VSOCK_OP_RESPONSE, port, request->header.src_port, 0, buf_alloc));
    EXPECT_EQ(ReadLine(program.get()), absl::StrCat("OK ", *host_port, "\n"));
    return program;
  }

  // Receives RW payload for guest port `guest_port` until `length` bytes came; other
  // packets go to `others`.
  std::string ReceiveData(uint32_t guest_port, size_t length,
                          std::vector<Packet>* others = nullptr) {
    std::string data;
    WaitUntil([&] {
      for (Packet& p : harness_->Receive()) {
        if (p.op() == VIRTIO_VSOCK_OP_RW && p.header.dst_port == guest_port) {
          data += p.data;
        } else if (others != nullptr) {
          others->push_back(std::move(p));
        }
      }
      return data.size() >= length;
    });
    return data;
  }

  std::string dir_;
  std::string uds_;
  std::vector<std::string> unlink_;
  std::vector<UniqueFd> listeners_;
  std::unique_ptr<VsockHarness> harness_;
};

TEST_F(VsockDeviceTest, IsAVsockDeviceWithThreeQueuesAndTheGuestCidInItsConfig) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<VsockDevice> device,
                       VsockDevice::Create(0x12345678, uds_));
  EXPECT_EQ(device->device_id(), 19u);
  EXPECT_EQ(device->queue_max_sizes(), (std::vector<uint16_t>{256, 256, 16}));
  EXPECT_EQ(device->offered_features(), kFeatureIndirectDesc | kFeatureEventIdx)
      << "no VIRTIO_VSOCK_F_SEQPACKET";
  std::vector<uint8_t> config(16, 0xaa);
  device->ReadConfig(0, absl::MakeSpan(config));
  EXPECT_EQ(config, (std::vector<uint8_t>{0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  std::vector<uint8_t> high(4, 0xaa);
  device->ReadConfig(4, absl::MakeSpan(high));
  EXPECT_EQ(high, (std::vector<uint8_t>(4, 0)));
  std::vector<uint8_t> byte(1, 0);
  device->ReadConfig(1, absl::MakeSpan(byte));
  EXPECT_EQ(byte[0], 0x56);
  const uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  device->WriteConfig(0, junk);
  device->ReadConfig(0, absl::MakeSpan(byte));
  EXPECT_EQ(byte[0], 0x78) << "guest_cid is read-only";
  EXPECT_EQ(device->state().guest_cid, 0x12345678u);
  EXPECT_EQ(device->state().uds_path, uds_);
  struct stat st;
  ASSERT_EQ(::stat(uds_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

TEST_F(VsockDeviceTest, CreateRefusesBadCidsPathsAndLimits) {
  for (uint64_t cid : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{0xffffffff},
                       uint64_t{1} << 32}) {
    EXPECT_THAT(VsockDevice::Create(cid, uds_),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("guest_cid")))
        << cid;
  }
  EXPECT_THAT(VsockDevice::Create(3, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uds_path")));
  EXPECT_THAT(VsockDevice::Create(3, "/" + std::string(vsock::kMaxUdsPathLength, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uds_path")));
  VsockLimits no_connections;
  no_connections.max_connections = 0;
  EXPECT_THAT(VsockDevice::Create(3, uds_, no_connections),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limits")));
  VsockLimits less_than_a_packet;
  less_than_a_packet.max_buffered_bytes = vsock::kMaxPayload - 1;
  EXPECT_THAT(VsockDevice::Create(3, uds_, less_than_a_packet),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_buffered_bytes")));
  EXPECT_THAT(VsockDevice::Create(3, dir_ + "/missing/v.sock"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("bind")));
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<VsockDevice> first, VsockDevice::Create(3, uds_));
    EXPECT_THAT(VsockDevice::Create(4, uds_),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("bind")))
        << "uds_path in use";
  }
  EXPECT_NE(::access(uds_.c_str(), F_OK), 0) << "unlinked with the device";
  EXPECT_EQ(VsockLimits().max_connections, 1024u);
  EXPECT_EQ(VsockLimits().buffer_size, 256u * 1024);
  EXPECT_EQ(VsockLimits().max_buffered_bytes, 64u << 20);
}

TEST_F(VsockDeviceTest, AcceptsHostProgramsOnlyWhileLiveAndARestoredLiveDeviceAtOnce) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLoop> loop, EventLoop::Create("vsock-attach"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<VsockDevice> device, VsockDevice::Create(kGuestCid, uds_));
  // Restored live: activated before it is attached, and no queue is ever kicked here.
  device->Activate(0);
  std::atomic<int> served{0};
  ASSERT_OK(device->AttachBackend(*loop, [&served](size_t) { served.fetch_add(1); }));
  EXPECT_THAT(device->AttachBackend(*loop, [](size_t) {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already")));
  UniqueFd program = ConnectTo(uds_);
  WriteAll(program.get(), "CONNECT 5\n");
  EXPECT_TRUE(WaitUntil([&] { return device->stats().connections == 1; }))
      << "the listener was added without a queue notification";
  EXPECT_GE(served.load(), 1) << "the REQUEST is due: the device asked for the RX queue";
  // A reset device stops accepting: the next program waits in the backlog.
  device->Reset();
  UniqueFd waiting = ConnectTo(uds_);
  WriteAll(waiting.get(), "CONNECT 6\n");
  EXPECT_TRUE(SeesEof(program.get())) << "the reset closed the first";
  EXPECT_FALSE(Readable(waiting.get(), kQuiet)) << "neither accepted and served nor closed";
  EXPECT_EQ(device->stats().connections, 0u);
  loop->Stop();
}

TEST_F(VsockDeviceTest, GuestConnectsToAHostServiceAndDataFlowsBothWays) {
  Start();
  const int listener = Listen(kServicePort);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1000, kServicePort));
  std::optional<Packet> response = harness_->ReceiveOp(VIRTIO_VSOCK_OP_RESPONSE, 1000);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header.src_cid, kHostCid);
  EXPECT_EQ(response->header.dst_cid, kGuestCid);
  EXPECT_EQ(response->header.src_port, kServicePort);
  EXPECT_EQ(response->header.type, VIRTIO_VSOCK_TYPE_STREAM);
  EXPECT_EQ(response->header.len, 0u);
  EXPECT_EQ(response->header.buf_alloc, 256u * 1024);
  EXPECT_EQ(response->header.fwd_cnt, 0u);
  UniqueFd service = Accept(listener);

  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, 5), "hello");
  EXPECT_EQ(ReadBytes(service.get(), 5), "hello");
  // Split framing: header and payload in separate descriptors.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, 6), " world", /*split=*/true);
  EXPECT_EQ(ReadBytes(service.get(), 6), " world");

  WriteAll(service.get(), "from the host");
  EXPECT_EQ(ReceiveData(1000, 13), "from the host");

  const DeviceCounters counters = harness_->device().counters();
  EXPECT_EQ(counters.bytes_written, 11u);
  EXPECT_EQ(counters.bytes_read, 13u);
  EXPECT_EQ(counters.packets_sent, 3u);
  EXPECT_GE(counters.packets_received, 2u);
  EXPECT_EQ(counters.drops, 0u);
  EXPECT_EQ(counters.errors, 0u);
  EXPECT_EQ(harness_->device().stats().connections, 1u);
}

TEST_F(VsockDeviceTest, GuestConnectingWhereNoHostServiceListensGetsRst) {
  Start();
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1000, 7777));
  std::optional<Packet> rst = harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1000);
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->header.src_port, 7777u);
  EXPECT_EQ(rst->header.src_cid, kHostCid);
  EXPECT_EQ(rst->header.dst_cid, kGuestCid);
  EXPECT_EQ(harness_->device().stats().connections, 0u);
  EXPECT_EQ(harness_->device().counters().drops, 1u);
}

TEST_F(VsockDeviceTest, HostProgramConnectsWithOkLineAndDataFlowsBothWays) {
  Start();
  UniqueFd program = ConnectTo(uds_);
  // Data right behind the CONNECT line waits for the guest's answer; it is not swallowed.
  WriteAll(program.get(), "CONNECT 52\nearly bytes");
  std::optional<Packet> request = harness_->ReceiveOp(VIRTIO_VSOCK_OP_REQUEST, kServicePort);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->header.src_cid, kHostCid);
  EXPECT_EQ(request->header.dst_cid, kGuestCid);
  EXPECT_GE(request->header.src_port, 1u << 30);
  EXPECT_LT(request->header.src_port, 1u << 31);
  EXPECT_EQ(request->header.buf_alloc, 256u * 1024);
  const uint32_t host_port = request->header.src_port;
  EXPECT_FALSE(Readable(program.get(), kQuiet)) << "no OK before the guest accepts";

  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RESPONSE, kServicePort, host_port));
  EXPECT_EQ(ReadLine(program.get()), absl::StrCat("OK ", host_port, "\n"));
  EXPECT_EQ(ReceiveData(kServicePort, 11), "early bytes");

  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, kServicePort, host_port, 4), "pong");
  EXPECT_EQ(ReadBytes(program.get(), 4), "pong");
  WriteAll(program.get(), "ping");
  EXPECT_EQ(ReceiveData(kServicePort, 4), "ping");

  // A second program gets another host port.
  uint32_t second_port = 0;
  UniqueFd second = HostConnect(kServicePort, &second_port);
  EXPECT_NE(second_port, host_port);
  EXPECT_EQ(harness_->device().stats().connections, 2u);
}

TEST_F(VsockDeviceTest, HostProgramIsClosedWhenTheGuestRefusesOrNeverAnswers) {
  VsockHarness::Options options;
  options.limits.timeouts.handshake = std::chrono::milliseconds(300);
  Start(options);
  UniqueFd refused = ConnectTo(uds_);
  WriteAll(refused.get(), "CONNECT 80\n");
  std::optional<Packet> request = harness_->ReceiveOp(VIRTIO_VSOCK_OP_REQUEST, 80);
  ASSERT_TRUE(request);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RST, 80, request->header.src_port));
  EXPECT_TRUE(SeesEof(refused.get())) << "closed without an OK line";

  UniqueFd ignored = ConnectTo(uds_);
  WriteAll(ignored.get(), "CONNECT 81\n");
  request = harness_->ReceiveOp(VIRTIO_VSOCK_OP_REQUEST, 81);
  ASSERT_TRUE(request);
  // No answer: after the handshake timeout the program is closed and the guest told (RST).
  EXPECT_TRUE(SeesEof(ignored.get()));
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 81));
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().connections == 0; }));
}

TEST_F(VsockDeviceTest, ConnectLinesThatAreGarbageTooLongOrTooSlowAreClosed) {
  VsockHarness::Options options;
  options.limits.connect_line_timeout = std::chrono::milliseconds(300);
  options.limits.max_pending_host_connections = 2;
  Start(options);
  for (const std::string& line :
       {std::string("HELLO\n"), std::string("CONNECT 99999999999\n"), std::string(40, 'x'),
        std::string("CONNECT -5\n")}) {
    UniqueFd program = ConnectTo(uds_);
    WriteAll(program.get(), line);
    EXPECT_TRUE(SeesEof(program.get())) << line;
  }
  // A line in pieces is fine.
  UniqueFd slow = ConnectTo(uds_);
  WriteAll(slow.get(), "CON");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  WriteAll(slow.get(), "NECT 6");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  WriteAll(slow.get(), "0\n");
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_REQUEST, 60));
  // Two programs silent: the third is turned away at once, the two after the timeout.
  UniqueFd silent1 = ConnectTo(uds_);
  UniqueFd silent2 = ConnectTo(uds_);
  ASSERT_TRUE(WaitUntil([&] { return harness_->device().stats().pending_host_connections == 2; }));
  UniqueFd third = ConnectTo(uds_);
  EXPECT_TRUE(SeesEof(third.get(), std::chrono::milliseconds(200)));
  EXPECT_TRUE(SeesEof(silent1.get()));
  EXPECT_TRUE(SeesEof(silent2.get()));
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().pending_host_connections == 0; }));
  EXPECT_EQ(harness_->device().counters().packets_sent, 0u) << "nothing reached the guest's TX";
}

TEST_F(VsockDeviceTest, HostDataNeverExceedsTheGuestsCreditAndResumesAfterAnUpdate) {
  Start();
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener, kServicePort, /*buf_alloc=*/8192);
  const std::string data = Pattern(64 * 1024, 1);
  WriteAll(service.get(), data);
  std::vector<Packet> others;
  std::string received = ReceiveData(1000, 8192, &others);
  // Give the device every chance to send more than it may.
  std::this_thread::sleep_for(kQuiet);
  received += ReceiveData(1000, 0, &others);
  EXPECT_EQ(received.size(), 8192u) << "the guest gave 8192 bytes of credit";
  EXPECT_EQ(received, data.substr(0, 8192));
  bool asked = false;
  for (const Packet& p : others) asked |= p.op() == VIRTIO_VSOCK_OP_CREDIT_REQUEST;
  EXPECT_TRUE(asked) << "out of credit with data waiting, the device asks";

  // The guest forwarded 4096 of them: exactly 4096 more come.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, kServicePort, 0, 8192, 4096));
  received += ReceiveData(1000, 4096);
  std::this_thread::sleep_for(kQuiet);
  received += ReceiveData(1000, 0);
  EXPECT_EQ(received.size(), 8192u + 4096);
  // All of it, once the guest keeps up.
  uint32_t forwarded = static_cast<uint32_t>(received.size());
  ASSERT_TRUE(WaitUntil([&] {
    harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, kServicePort, 0, 8192, forwarded));
    received += ReceiveData(1000, 0);
    forwarded = static_cast<uint32_t>(received.size());
    return received.size() >= data.size();
  }));
  EXPECT_EQ(received, data);
}

TEST_F(VsockDeviceTest, ReadsFillSeveralRxBuffersButNeverSpendOneOnNothing) {
  // The device fills several 4 KiB RX buffers from one read of the socket, sized by its
  // backlog. However the host's write reaches the socket, every byte comes in order, and no
  // buffer goes out as an empty packet when a read takes the socket's last bytes (here
  // exactly four buffers' worth: a read that fills its room does not prove more waits).
  Start();
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);
  const std::string data = Pattern(4 * 4096, 7);
  WriteAll(service.get(), data);
  std::vector<Packet> others;
  std::string received = ReceiveData(1000, data.size(), &others);
  std::this_thread::sleep_for(kQuiet);
  received += ReceiveData(1000, 0, &others);
  EXPECT_EQ(received, data);
  for (const Packet& p : others) {
    ADD_FAILURE() << "a packet besides the data: op " << p.op() << ", len " << p.header.len;
  }
}

TEST_F(VsockDeviceTest, GuestIgnoringCreditIsResetAndBuffersStayBounded) {
  VsockHarness::Options options;
  options.limits.buffer_size = 16 * 1024;
  Start(options);
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);  // the service never reads
  // Within credit: taken, though the service reads nothing.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, 1000),
                 std::string(1000, 'a'));
  ASSERT_TRUE(WaitUntil([&] { return harness_->TxUsed() == 2; }));
  EXPECT_EQ(harness_->device().stats().connections, 1u);
  // The device told it 16 KiB in all (RESPONSE, and nothing since: the guest reads no RX
  // packet here, but what it was sent is what counts): 15385 bytes more is one too many.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, 16 * 1024 - 1000 + 1),
                 std::string(16 * 1024 - 1000 + 1, 'b'));
  ASSERT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1000));
  EXPECT_EQ(harness_->device().stats().connections, 0u);
  EXPECT_EQ(harness_->device().stats().buffered_bytes, 0u);
  EXPECT_EQ(ReadBytes(service.get(), 1000), std::string(1000, 'a')) << "nothing of the refused packet";
  EXPECT_TRUE(SeesEof(service.get())) << "the host end is closed with the connection";

  // A guest that keeps sending without credit, to a service that never reads: the device
  // never holds more than buffer_size for it.
  UniqueFd service2 = GuestConnect(1001, listener);
  uint64_t most_buffered = 0;
  bool reset = false;
  for (int i = 0; i < 64 && !reset; ++i) {
    harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1001, kServicePort, 16 * 1024),
                   std::string(16 * 1024, 'c'));
    most_buffered = std::max(most_buffered, harness_->device().stats().buffered_bytes);
    for (const Packet& p : harness_->Receive()) reset |= p.op() == VIRTIO_VSOCK_OP_RST;
  }
  if (!reset) reset = harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1001).has_value();
  EXPECT_TRUE(reset);
  EXPECT_LE(most_buffered, 16u * 1024);
  EXPECT_GE(harness_->device().counters().drops, 2u);
}

TEST_F(VsockDeviceTest, AHostServiceThatReadsNothingHoldsUpLittle) {
  VsockHarness::Options options;
  options.limits.buffer_size = 16 * 1024;
  Start(options);
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);  // it never reads
  // A guest that respects its credit: sends what it may, then waits for a CREDIT_UPDATE.
  const uint32_t sent = SendWithinCredit(1000, 16 * 1024, [] { return false; });
  // The device buffered at most buffer_size, and the kernel little more: it set SO_SNDBUF
  // to buffer_size (by default about 200 KiB would have gone into the socket first).
  EXPECT_LE(harness_->device().stats().buffered_bytes, 16u * 1024);
  EXPECT_LT(harness_->device().counters().bytes_written, 96u * 1024);
  EXPECT_LT(sent, 128u * 1024);
  // Once the service reads, everything flows again.
  EXPECT_EQ(ReadBytes(service.get(), sent).size(), sent);
}

TEST_F(VsockDeviceTest, HostProgramsThatFallBehindGetAWindowOfSendBufferWhileTheBudgetLasts) {
  VsockHarness::Options options;
  options.limits.max_large_send_buffers = 1;
  Start(options);
  const uint32_t window = options.limits.buffer_size;  // 256 KiB: four full packets
  ASSERT_GT(window, 2 * VsockDevice::kMaxHostSendBuffer);
  const int listener = Listen(kServicePort);
  // The guest sends a whole window from `port` to a host program that reads nothing yet.
  const auto send_window = [&](uint32_t port, uint32_t seed) {
    const std::string data = Pattern(window, seed);
    for (uint32_t at = 0; at < window; at += vsock::kMaxPayload) {
      harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, port, kServicePort, vsock::kMaxPayload),
                     data.substr(at, vsock::kMaxPayload));
    }
    EXPECT_TRUE(WaitUntil([&] { return harness_->TxUsed() == harness_->TxSent(); }));
    return data;
  };
  // The first falls behind and gets the budget's one large buffer: the kernel takes it all.
  UniqueFd first = GuestConnect(1000, listener);
  const std::string first_data = send_window(1000, 1);
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().buffered_bytes == 0; }))
      << "held for the first: " << harness_->device().stats().buffered_bytes;
  // The second gets none: its socket takes about 128 KiB and the device holds the rest.
  UniqueFd second = GuestConnect(1001, listener);
  const std::string second_data = send_window(1001, 2);
  ASSERT_TRUE(WaitUntil([&] { return harness_->device().stats().buffered_bytes > 0; }));
  const uint64_t held_for_second = harness_->device().stats().buffered_bytes;
  EXPECT_GE(held_for_second, window - 2 * VsockDevice::kMaxHostSendBuffer);
  // The first connection ends; its large buffer goes to the next that falls behind.
  EXPECT_EQ(ReadBytes(first.get(), window), first_data);
  first.Reset();
  ASSERT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1000));
  UniqueFd third = GuestConnect(1002, listener);
  const std::string third_data = send_window(1002, 3);
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().buffered_bytes == held_for_second; }))
      << "held: " << harness_->device().stats().buffered_bytes;
  // Every byte arrives, in order, whichever way it went.
  EXPECT_EQ(ReadBytes(third.get(), window), third_data);
  EXPECT_EQ(ReadBytes(second.get(), window), second_data);
}

TEST_F(VsockDeviceTest, BytesHeldForHostProgramsPauseTxAtTheirBoundUntilTaken) {
  VsockHarness::Options options;
  options.limits.buffer_size = 16 * 1024;
  options.limits.max_buffered_bytes = vsock::kMaxPayload;  // nothing held, and one packet
  Start(options);
  const int listener = Listen(kServicePort);
  UniqueFd stalled = GuestConnect(1000, listener);  // it reads nothing until the end
  UniqueFd other = GuestConnect(1001, listener);
  // Connection 1000 sends within its credit until the socket is full and the device holds
  // bytes for it.
  const uint32_t sent = SendWithinCredit(
      1000, 16 * 1024, [&] { return harness_->device().stats().buffered_bytes > 0; });
  ASSERT_GT(harness_->device().stats().buffered_bytes, 0u);
  ASSERT_TRUE(WaitUntil([&] { return harness_->TxUsed() == harness_->TxSent(); }));
  // Now a packet of the other connection waits in the ring: one more could pass the bound.
  const size_t used = harness_->TxUsed();
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1001, kServicePort, 5), "other");
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(harness_->TxUsed(), used) << "TX is not served while bytes are held at the bound";
  // The stalled program reads: the device's bytes go to it, and TX comes back.
  EXPECT_EQ(ReadBytes(stalled.get(), sent).size(), sent);
  EXPECT_TRUE(WaitUntil([&] { return harness_->TxUsed() == used + 1; }));
  EXPECT_EQ(ReadBytes(other.get(), 5), "other");
  EXPECT_EQ(harness_->device().stats().buffered_bytes, 0u);
}

TEST_F(VsockDeviceTest, GuestOpeningConnectionsInALoopGetsRstBeyondTheLimit) {
  VsockHarness::Options options;
  options.limits.max_connections = 8;
  Start(options);
  const int listener = Listen(kServicePort);
  for (uint32_t port = 2000; port < 2020; ++port) {
    harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, port, kServicePort));
  }
  std::vector<Packet> packets = harness_->ReceiveAtLeast(20);
  int responses = 0, resets = 0;
  for (const Packet& p : packets) {
    if (p.op() == VIRTIO_VSOCK_OP_RESPONSE) {
      ++responses;
      EXPECT_LT(p.header.dst_port, 2008u) << "the first eight are served";
    }
    if (p.op() == VIRTIO_VSOCK_OP_RST) ++resets;
  }
  EXPECT_EQ(responses, 8);
  EXPECT_EQ(resets, 12);
  EXPECT_EQ(harness_->device().stats().connections, 8u);
  // A host program finds no room either: closed at once (its CONNECT line may even fail).
  UniqueFd program = ConnectTo(uds_);
  (void)::send(program.get(), "CONNECT 52\n", 11, MSG_NOSIGNAL);
  EXPECT_TRUE(SeesEof(program.get()));
  // One closes; one more may open.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RST, 2003, kServicePort));
  ASSERT_TRUE(WaitUntil([&] { return harness_->device().stats().connections == 7; }));
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 3000, kServicePort));
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RESPONSE, 3000));
  for (int i = 0; i < 9; ++i) Accept(listener);
}

TEST_F(VsockDeviceTest, MalformedPacketsAreDroppedOrResetAndTheDeviceKeepsWorking) {
  Start();
  const int listener = Listen(kServicePort);
  // A short header: dropped, nothing to answer.
  harness_->SendBytes(std::vector<uint8_t>(20, 0));
  // Not from this guest, or not to the host: dropped silently.
  virtio_vsock_hdr spoofed = GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1001, kServicePort);
  spoofed.src_cid = 7;
  harness_->Send(spoofed);
  virtio_vsock_hdr elsewhere = GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1002, kServicePort);
  elsewhere.dst_cid = 5;
  harness_->Send(elsewhere);
  // Answered with RST: len past the chain, len above 64 KiB, an unknown op, op 0, SEQPACKET,
  // data for no connection.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1003, kServicePort, 100), "short");
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1004, kServicePort, 70000));
  harness_->Send(GuestHeader(99, 1005, kServicePort));
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_INVALID, 1006, kServicePort));
  virtio_vsock_hdr seqpacket = GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1007, kServicePort);
  seqpacket.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
  harness_->Send(seqpacket);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1008, kServicePort, 3), "abc");
  // An RST for nothing is not answered.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RST, 1009, kServicePort));

  std::vector<Packet> packets = harness_->ReceiveAtLeast(6);
  std::this_thread::sleep_for(kQuiet);
  for (Packet& p : harness_->Receive()) packets.push_back(std::move(p));
  std::vector<uint32_t> reset_ports;
  for (const Packet& p : packets) {
    EXPECT_EQ(p.op(), VIRTIO_VSOCK_OP_RST);
    reset_ports.push_back(p.header.dst_port);
  }
  EXPECT_EQ(reset_ports, (std::vector<uint32_t>{1003, 1004, 1005, 1006, 1007, 1008}));
  const DeviceCounters counters = harness_->device().counters();
  EXPECT_EQ(counters.requests, 10u + 6u) << "10 TX chains, 6 RX";
  EXPECT_EQ(counters.packets_sent, 9u) << "all but the short header";
  EXPECT_EQ(counters.errors, 3u) << "the short header and the two bad lens";
  EXPECT_EQ(counters.drops, 10u);
  EXPECT_EQ(harness_->device().stats().connections, 0u);

  // Still working.
  UniqueFd service = GuestConnect(1010, listener);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1010, kServicePort, 2), "ok");
  EXPECT_EQ(ReadBytes(service.get(), 2), "ok");
}

TEST_F(VsockDeviceTest, ProtocolViolationsOnALiveConnectionResetIt) {
  Start();
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);
  // A second REQUEST on a live connection.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1000, kServicePort));
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1000));
  EXPECT_TRUE(SeesEof(service.get()));
  // A bad type on a live connection.
  UniqueFd service2 = GuestConnect(1001, listener);
  virtio_vsock_hdr seqpacket = GuestHeader(VIRTIO_VSOCK_OP_RW, 1001, kServicePort, 1);
  seqpacket.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
  harness_->Send(seqpacket, "x");
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1001));
  EXPECT_TRUE(SeesEof(service2.get()));
  EXPECT_EQ(harness_->device().stats().connections, 0u);
}

TEST_F(VsockDeviceTest, AnRxBufferTooSmallForAHeaderComesBackEmpty) {
  VsockHarness::Options options;
  Start(options);
  harness_->ShrinkFirstRxBuffer(20);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_REQUEST, 1000, 4242));  // no service: RST
  std::vector<Packet> packets = harness_->ReceiveAtLeast(2);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].used_len, 0u);
  EXPECT_EQ(packets[1].op(), VIRTIO_VSOCK_OP_RST);
  EXPECT_EQ(harness_->device().counters().errors, 1u);
}

TEST_F(VsockDeviceTest, ShutdownOfEachDirection) {
  Start();
  const int listener = Listen(kServicePort);
  // The guest stops sending: the service reads EOF and may still answer.
  UniqueFd service = GuestConnect(1000, listener);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, 4), "last");
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_SHUTDOWN, 1000, kServicePort, 0, kGuestBufAlloc, 0,
                             VIRTIO_VSOCK_SHUTDOWN_SEND));
  EXPECT_EQ(ReadBytes(service.get(), 4), "last");
  EXPECT_TRUE(SeesEof(service.get()));
  WriteAll(service.get(), "answer");
  EXPECT_EQ(ReceiveData(1000, 6), "answer");
  // Then the service closes: SHUTDOWN to the guest, then RST, and the connection is gone.
  service.Reset();
  std::vector<Packet> before;
  std::optional<Packet> rst = harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1000, &before);
  ASSERT_TRUE(rst);
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(before.back().op(), VIRTIO_VSOCK_OP_SHUTDOWN);
  EXPECT_NE(before.back().header.flags & VIRTIO_VSOCK_SHUTDOWN_SEND, 0u);
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().connections == 0; }));

  // The host stops sending: the guest gets SHUTDOWN(SEND) and may still send.
  UniqueFd service2 = GuestConnect(1001, listener);
  WriteAll(service2.get(), "bye");
  ASSERT_EQ(::shutdown(service2.get(), SHUT_WR), 0);
  std::vector<Packet> packets;
  std::optional<Packet> shutdown = harness_->ReceiveOp(VIRTIO_VSOCK_OP_SHUTDOWN, 1001, &packets);
  ASSERT_TRUE(shutdown);
  EXPECT_EQ(shutdown->header.flags, static_cast<uint32_t>(VIRTIO_VSOCK_SHUTDOWN_SEND));
  std::string data;
  for (const Packet& p : packets) {
    if (p.op() == VIRTIO_VSOCK_OP_RW) data += p.data;
  }
  EXPECT_EQ(data, "bye") << "the data before the EOF came first";
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1001, kServicePort, 5), "still");
  EXPECT_EQ(ReadBytes(service2.get(), 5), "still");
  // The guest closes both ways: RST, and the service reads EOF.
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_SHUTDOWN, 1001, kServicePort, 0, kGuestBufAlloc, 0,
                             VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV));
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_RST, 1001));
  EXPECT_TRUE(SeesEof(service2.get()));
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().connections == 0; }));
}

TEST_F(VsockDeviceTest, ResetClosesEverythingOnTheLoopNotOnTheCallingThread) {
  Start();
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);
  uint32_t host_port = 0;
  UniqueFd program = HostConnect(70, &host_port);
  UniqueFd pending = ConnectTo(uds_);  // no CONNECT line yet
  ASSERT_TRUE(WaitUntil([&] { return harness_->device().stats().pending_host_connections == 1; }));
  ASSERT_EQ(harness_->device().stats().connections, 2u);

  // Hold the loop while the "vCPU" resets the device: Reset itself closes nothing.
  Flag release, holding;
  std::thread hold([&] {
    harness_->RunOnLoop([&] {
      holding.Set();
      release.Wait();
    });
  });
  holding.Wait();
  harness_->ResetDevice();
  EXPECT_FALSE(Readable(service.get(), std::chrono::milliseconds(100)))
      << "Reset ran no syscall on the device's sockets";
  release.Set();
  hold.join();
  // While no driver is live, a new host program waits in the backlog: not accepted, not
  // closed.
  UniqueFd early = ConnectTo(uds_);
  WriteAll(early.get(), "CONNECT 71\n");
  EXPECT_FALSE(Readable(early.get(), kQuiet));
  // The driver brings the device up again (DRIVER_OK kicks every queue): all closed.
  harness_->Activate();
  EXPECT_TRUE(SeesEof(service.get()));
  EXPECT_TRUE(SeesEof(program.get()));
  EXPECT_TRUE(SeesEof(pending.get()));
  // ... and the program that waited is served now.
  EXPECT_TRUE(harness_->ReceiveOp(VIRTIO_VSOCK_OP_REQUEST, 71));
  EXPECT_TRUE(WaitUntil([&] {
    const VsockStats stats = harness_->device().stats();
    return stats.connections == 1 && stats.pending_host_connections == 0;
  }));
  // And the device works afterwards.
  UniqueFd again = GuestConnect(1000, listener);
  harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, 3), "new");
  EXPECT_EQ(ReadBytes(again.get(), 3), "new");
}

TEST_F(VsockDeviceTest, ResetIsAppliedByTheNextSocketEventEvenBeforeReactivation) {
  Start();
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);
  harness_->ResetDevice();
  // Not live again, but the service writes: its handler closes everything.
  WriteAll(service.get(), "x");
  EXPECT_TRUE(SeesEof(service.get()));
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().connections == 0; }));
}

TEST_F(VsockDeviceTest, TransportResetClosesConnectionsAndPostsTheEvent) {
  VsockHarness::Options options;
  options.event_buffers = 0;
  Start(options);
  const int listener = Listen(kServicePort);
  UniqueFd service = GuestConnect(1000, listener);
  harness_->device().PostTransportReset();
  EXPECT_TRUE(SeesEof(service.get()));
  EXPECT_TRUE(WaitUntil([&] { return harness_->device().stats().connections == 0; }));
  EXPECT_THAT(harness_->ReceiveEvents(), IsEmpty()) << "no event buffer yet";
  // The guest gives event buffers: the event goes into the first, and only once.
  harness_->PostEventBuffers(2);
  std::vector<uint32_t> events;
  ASSERT_TRUE(WaitUntil([&] {
    for (uint32_t e : harness_->ReceiveEvents()) events.push_back(e);
    return !events.empty();
  }));
  std::this_thread::sleep_for(kQuiet);
  for (uint32_t e : harness_->ReceiveEvents()) events.push_back(e);
  EXPECT_EQ(events, std::vector<uint32_t>{VIRTIO_VSOCK_EVENT_TRANSPORT_RESET});
  // Connections open again afterwards.
  UniqueFd again = GuestConnect(1001, listener);
  EXPECT_TRUE(again.valid());
}

TEST_F(VsockDeviceTest, QueuedResetsAreBoundedAndTxWaitsForRxBuffers) {
  VsockHarness::Options options;
  options.limits.max_queued_resets = 4;
  options.rx_buffers = 0;  // the guest gives no RX buffers yet
  Start(options);
  for (uint32_t port = 1000; port < 1010; ++port) {
    harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, port, 4242, 1), "x");
  }
  ASSERT_TRUE(WaitUntil([&] { return harness_->device().stats().queued_resets == 4; }));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(harness_->TxUsed(), 4u) << "the device stops taking packets that need an RST";
  EXPECT_EQ(harness_->device().stats().queued_resets, 4u);
}

TEST_F(VsockDeviceTest, TxResumesWhenQueuedResetsDrain) {
  VsockHarness::Options options;
  options.limits.max_queued_resets = 4;
  options.rx_buffers = 2;  // fewer buffers than RSTs: the guest re-posts as it reads
  Start(options);
  for (uint32_t port = 1000; port < 1010; ++port) {
    harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, port, 4242, 1), "x");
  }
  std::vector<Packet> packets = harness_->ReceiveAtLeast(10);
  ASSERT_EQ(packets.size(), 10u);
  for (size_t i = 0; i < packets.size(); ++i) {
    EXPECT_EQ(packets[i].op(), VIRTIO_VSOCK_OP_RST);
    EXPECT_EQ(packets[i].header.dst_port, 1000 + i) << "in order";
  }
  EXPECT_TRUE(WaitUntil([&] { return harness_->TxUsed() == 10; }));
}

TEST_F(VsockDeviceTest, ABrokenTxRingIsAnErrorForTheTransport) {
  Start();
  harness_->BreakTxRing();
  ASSERT_TRUE(WaitUntil([&] { return !harness_->failures().empty(); }));
  EXPECT_THAT(harness_->failures()[0], StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  harness_.reset();  // expected failure; TearDown checks none
}

// The guest's side of one connection for the large transfer: honours the device's credit,
// gives credit back as it consumes, and checks the device never sends past the guest's.
TEST_F(VsockDeviceTest, OneMebibyteEachWayThroughTheRealLoop) {
  VsockHarness::Options options;
  options.features = kFeatureEventIdx | kFeatureIndirectDesc;
  options.rx_buffers = 128;
  Start(options);
  const int listener = Listen(kServicePort);
  constexpr size_t kSize = 1 << 20;
  constexpr uint32_t kGuestBuffer = 64 * 1024;
  const std::string to_host = Pattern(kSize, 7);
  const std::string to_guest = Pattern(kSize, 8);
  UniqueFd service = GuestConnect(1000, listener, kServicePort, kGuestBuffer);

  // The host service writes its mebibyte and reads the guest's, on threads of its own.
  std::string host_received;
  std::thread writer([&] { WriteAll(service.get(), to_guest); });
  std::thread reader([&] { host_received = ReadBytes(service.get(), kSize, std::chrono::seconds(60)); });

  std::string guest_received;
  uint32_t guest_fwd_cnt = 0;       // what the guest consumed
  uint32_t told_fwd_cnt = 0;        // ... and last told the device
  uint32_t device_buf_alloc = 64 * 1024, device_fwd_cnt = 0;
  uint32_t guest_sent = 0;
  size_t credit_violations = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((guest_received.size() < kSize || guest_sent < kSize) &&
         std::chrono::steady_clock::now() < deadline) {
    bool progress = false;
    bool answer_credit = false;
    for (const Packet& p : harness_->Receive()) {
      progress = true;
      ASSERT_EQ(p.header.dst_port, 1000u);
      device_buf_alloc = p.header.buf_alloc;
      device_fwd_cnt = p.header.fwd_cnt;
      if (p.op() == VIRTIO_VSOCK_OP_RW) {
        // Bytes in flight from the guest's view may never pass what it advertised.
        if (static_cast<uint32_t>(guest_received.size()) + p.header.len - told_fwd_cnt >
            kGuestBuffer) {
          ++credit_violations;
        }
        guest_received += p.data;
        guest_fwd_cnt += p.header.len;
      } else if (p.op() == VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
        answer_credit = true;
      } else {
        ASSERT_EQ(p.op(), VIRTIO_VSOCK_OP_CREDIT_UPDATE) << "unexpected op";
      }
    }
    if (answer_credit || guest_fwd_cnt - told_fwd_cnt >= kGuestBuffer / 4) {
      harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1000, kServicePort, 0,
                                 kGuestBuffer, guest_fwd_cnt));
      told_fwd_cnt = guest_fwd_cnt;
      progress = true;
    }
    // Send what the device's credit allows, in packets of up to 32 KiB.
    const uint32_t credit = device_buf_alloc - (guest_sent - device_fwd_cnt);
    const uint32_t chunk = std::min<uint32_t>({credit, 32 * 1024, static_cast<uint32_t>(kSize - guest_sent)});
    if (chunk > 0) {
      harness_->Send(GuestHeader(VIRTIO_VSOCK_OP_RW, 1000, kServicePort, chunk, kGuestBuffer,
                                 guest_fwd_cnt),
                     absl::string_view(to_host).substr(guest_sent, chunk), /*split=*/true);
      told_fwd_cnt = guest_fwd_cnt;
      guest_sent += chunk;
      progress = true;
    }
    if (!progress) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  writer.join();
  reader.join();
  EXPECT_EQ(credit_violations, 0u);
  ASSERT_EQ(guest_received.size(), kSize);
  ASSERT_EQ(host_received.size(), kSize);
  EXPECT_EQ(Checksum(guest_received), Checksum(to_guest));
  EXPECT_EQ(Checksum(host_received), Checksum(to_host));
  EXPECT_TRUE(guest_received == to_guest);
  EXPECT_TRUE(host_received == to_host);
  const DeviceCounters counters = harness_->device().counters();
  EXPECT_EQ(counters.bytes_read, kSize);
  EXPECT_EQ(counters.bytes_written, kSize);
  EXPECT_EQ(counters.drops, 0u);
  EXPECT_EQ(counters.errors, 0u);
}

}  // namespace
}  // namespace vmmd::virtio
