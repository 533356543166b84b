// Fuzzes virtio-vsock (devices/virtio/vsock: VsockDevice) with TX packets of any header,
// length and framing, RX and event buffers of any size, host programs that connect with any
// first line, host services and programs that write, read and close, device resets and
// transport resets, through three ready Virtqueues in 4 MiB of guest RAM. The device runs on
// a real EventLoop with real Unix sockets, as in the daemon: its queues are served on the
// loop thread under one lock (the transport's), by the fuzzer's ProcessQueue operations and
// by the device's own handlers. After every operation that can wake the loop the harness
// lets it settle (runs no-op tasks on it until a round passes without ProcessQueue), so that
// an input replays the same way. A host service listens at "<uds>_52" (a REQUEST to port 52
// connects), none at "<uds>_53"; the limits are small (4 connections, 2 host programs
// waiting for their line, 4 KiB buffers, 3 queued RSTs) and the timeouts long (never hit).
//
// Input, read through FuzzedDataProvider in this order (the seeds below, written with
// FdpEncoder, follow it; built with -DVMMD_VSOCK_FUZZER_SEED_GEN this file is the seed
// generator instead):
//   features      uint8 in [0, 3]: bit 0 VIRTIO_F_EVENT_IDX, bit 1 VIRTIO_F_INDIRECT_DESC
//   queue sizes   rx, tx, event: 1 << log2, log2 uint8 in [0, 8], [0, 8], [0, 4]
// then operations, each an opcode uint8 in [0, kLastOp] and its operands:
//   kTxPacket     a guest packet, laid out as a TX chain and made available (no notification):
//                   op          uint8 in [0, 8]: 0 to 7 that op, 8 a raw uint16
//                   guest port  uint8 in [0, 3]: 1000 + it; 3 a raw uint32
//                   host port   uint8 in [0, 3]: 52 (listening), 53 (nobody),
//                               2^30 + uint8 in [0, 3] (host-initiated), raw uint32
//                   cids        uint8 in [0, 3]: bit 0 a raw src_cid uint64, bit 1 raw dst_cid
//                   type        bool raw: a raw uint16, else STREAM
//                   flags       bool raw: a raw uint32, else uint8 in [0, 3]
//                   buf_alloc   uint8 in [0, 4]: 0, 16, 4096, 65536, a raw uint32
//                   fwd_cnt     uint8 in [0, 2]: what the guest received on that connection,
//                               0, a raw uint32
//                   payload     uint8 in [0, 4]: none; uint16 in [1, 64]; uint16 in
//                               [1, 4200]; uint32 in [65530, 65540]; uint32 in [0, 70000]
//                   len         bool honest: the payload's length, else a raw uint32
//                   header      bool short: uint8 in [0, 43] bytes of it, else all 44
//                   pieces      uint8 in [1, 3], then pieces - 1 cuts uint32 in [0, bytes]
//                   indirect    bool (used only when negotiated)
//                   pattern     uint8: the payload is pattern, pattern + 1, ...
//   kRxBuffers    count uint8 in [1, 16], each: size kind uint8 in [0, 3] (uint8 in [0, 43];
//                 44; uint16 in [45, 300]; 44 + 4096), a readable descriptor first bool,
//                 pieces uint8 in [1, 2] (then a cut uint32 in [0, size]), indirect bool
//   kEventBuffers count uint8 in [1, 4], each a size uint8 in [0, 8]
//   kProcess      queue uint8 in [0, 2]: a notification of that queue
//   kWrongIndex   uint8 in [3, 255]: ProcessQueue of a queue the device lacks
//   kHostConnect  a host program connects to the device's socket and sends: kind uint8 in
//                 [0, 3]: "CONNECT <1000 + uint8 in [0, 3]>\n"; the same and data (length
//                 uint8 in [1, 64]); raw bytes (length uint8 in [0, 40], then the bytes);
//                 nothing
//   kHostWrite    peer uint8, length uint16 in [1, 8192], pattern uint8: the service accepts
//                 what waits, then peer (n % count) of services and programs writes
//   kHostRead     peer uint8: reads what it can
//   kHostClose    peer uint8, bool full: close, else shutdown(SHUT_WR)
//   kReset        the driver resets the device, sets the queues up again, DRIVER_OK (every
//                 queue notified)
//   kTransportReset  PostTransportReset
//   kBreakRing    queue uint8 in [0, 2], uint8: avail->idx jumps size + 1 + it ahead
// and at the end notifications of tx, rx and event.
//
// Checked after every ProcessQueue (vsock_device.h, connection.h, spec 5.10.6):
//   - its status: OK, unless that ring was broken (then INVALID_ARGUMENT and the driver
//     resets), INVALID_ARGUMENT for a wrong index;
//   - the used rings: ids are chains in flight; TX chains come back with length 0; RX chains
//     with 0 (only with fewer than 44 writable bytes) or 44 + len; event chains with 4 (the
//     id VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, at most one per PostTransportReset) or 0 (fewer
//     than 4 writable bytes); device-readable bytes untouched and nothing written past the
//     used length;
//   - every RX header: from CID 2 to the guest's CID, STREAM, a known op, len 0 except RW
//     (1 to 64 KiB), flags only on SHUTDOWN, the device's buf_alloc (0 for an RST of no
//     connection); an RW never exceeds the credit of some (buf_alloc, fwd_cnt) the guest sent
//     for that connection (bytes received since its REQUEST or RESPONSE - fwd_cnt <=
//     buf_alloc);
//   - descriptor tables and available rings untouched;
//   - the bounds: connections, host programs waiting, queued RSTs and buffered bytes within
//     the limits;
//   - the counters: requests are the chains used, packets_received the RX chains used with a
//     header, bytes_read their RW payload.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>

namespace vmmd::fuzz::vsock_packet {

enum Op : uint8_t {
  kTxPacket = 0,
  kRxBuffers,
  kEventBuffers,
  kProcess,
  kWrongIndex,
  kHostConnect,
  kHostWrite,
  kHostRead,
  kHostClose,
  kReset,
  kTransportReset,
  kBreakRing,
  kLastOp = kBreakRing,
};

inline constexpr uint32_t kListeningPort = 52;
inline constexpr uint32_t kSilentPort = 53;

}  // namespace vmmd::fuzz::vsock_packet

#ifdef VMMD_VSOCK_FUZZER_SEED_GEN
// ---------------------------------------------------------------------------------------
// The seed generator: `vsock_seed_gen KIND OUT_DIR SEED...` writes OUT_DIR/SEED for each.
#include <linux/virtio_vsock.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/fuzz/fdp_encoder.h"

namespace vmmd::fuzz::vsock_packet {
namespace {

struct Packet {
  uint8_t op = VIRTIO_VSOCK_OP_RW;
  uint8_t guest_port = 0;  // 1000 + it; 3: raw_guest_port
  uint32_t raw_guest_port = 5000;
  uint8_t host_port = 0;   // 0: 52, 1: 53, 2: 2^30 + host_offset
  uint8_t host_offset = 0;
  uint8_t buf_alloc = 3;   // 65536
  uint8_t fwd_cnt = 0;     // honest
  uint8_t payload_kind = 0;
  uint16_t payload = 0;
  bool honest_len = true;
  uint32_t raw_len = 0;
  bool raw_type = false;
  uint16_t type = 0;
  uint8_t flags = 0;
  uint8_t cids = 0;
  int short_header = -1;
  uint8_t pieces = 1;
};

class Seed {
 public:
  Seed(uint8_t features, uint8_t rx_log2, uint8_t tx_log2, uint8_t event_log2) {
    e_.IntegralInRange<uint8_t>(0, 3, features)
        .IntegralInRange<uint8_t>(0, 8, rx_log2)
        .IntegralInRange<uint8_t>(0, 8, tx_log2)
        .IntegralInRange<uint8_t>(0, 4, event_log2);
  }
  Seed& Tx(const Packet& p) {
    Opcode(kTxPacket);
    e_.IntegralInRange<uint8_t>(0, 8, p.op).IntegralInRange<uint8_t>(0, 3, p.guest_port);
    if (p.guest_port == 3) e_.Integral<uint32_t>(p.raw_guest_port);
    e_.IntegralInRange<uint8_t>(0, 3, p.host_port);
    if (p.host_port == 2) e_.IntegralInRange<uint8_t>(0, 3, p.host_offset);
    e_.IntegralInRange<uint8_t>(0, 3, p.cids);
    if (p.cids & 1) e_.Integral<uint64_t>(7);
    if (p.cids & 2) e_.Integral<uint64_t>(9);
    e_.Bool(p.raw_type);
    if (p.raw_type) e_.Integral<uint16_t>(p.type);
    e_.Bool(false).IntegralInRange<uint8_t>(0, 3, p.flags);
    e_.IntegralInRange<uint8_t>(0, 4, p.buf_alloc).IntegralInRange<uint8_t>(0, 2, p.fwd_cnt);
    e_.IntegralInRange<uint8_t>(0, 4, p.payload_kind);
    if (p.payload_kind == 1) e_.IntegralInRange<uint16_t>(1, 64, p.payload);
    if (p.payload_kind == 2) e_.IntegralInRange<uint16_t>(1, 4200, p.payload);
    if (p.payload_kind == 3) e_.IntegralInRange<uint32_t>(65530, 65540, p.payload + 65530u);
    if (p.payload_kind == 4) e_.IntegralInRange<uint32_t>(0, 70000, p.payload);
    e_.Bool(p.honest_len);
    if (!p.honest_len) e_.Integral<uint32_t>(p.raw_len);
    e_.Bool(p.short_header >= 0);
    if (p.short_header >= 0) e_.IntegralInRange<uint8_t>(0, 43, p.short_header);
    uint32_t payload = p.payload;
    if (p.payload_kind == 0) payload = 0;
    if (p.payload_kind == 3) payload = 65530u + p.payload;
    const uint32_t total = (p.short_header >= 0 ? p.short_header : 44) + payload;
    e_.IntegralInRange<uint8_t>(1, 3, p.pieces);
    for (uint8_t i = 1; i < p.pieces; ++i) {
      e_.IntegralInRange<uint32_t>(0, total, std::min<uint32_t>(total, 30u * i));
    }
    e_.Bool(false).Integral<uint8_t>(7);
    return *this;
  }
  Seed& Rx(uint8_t count, uint8_t size_kind = 3) {
    Opcode(kRxBuffers);
    e_.IntegralInRange<uint8_t>(1, 16, count);
    for (uint8_t i = 0; i < count; ++i) {
      e_.IntegralInRange<uint8_t>(0, 3, size_kind);
      if (size_kind == 0) e_.IntegralInRange<uint8_t>(0, 43, 20);
      if (size_kind == 2) e_.IntegralInRange<uint16_t>(45, 300, 100);
      e_.Bool(false).IntegralInRange<uint8_t>(1, 2, 1).Bool(false);
    }
    return *this;
  }
  Seed& Events(uint8_t count) {
    Opcode(kEventBuffers);
    e_.IntegralInRange<uint8_t>(1, 4, count);
    for (uint8_t i = 0; i < count; ++i) e_.IntegralInRange<uint8_t>(0, 8, 4);
    return *this;
  }
  Seed& Process(uint8_t queue) {
    Opcode(kProcess);
    e_.IntegralInRange<uint8_t>(0, 2, queue);
    return *this;
  }
  // kind 0: "CONNECT <1000 + port>\n"; 1: the same and `data` bytes; 3: nothing.
  Seed& HostConnect(uint8_t kind, uint8_t port = 0, uint8_t data = 0) {
    Opcode(kHostConnect);
    e_.IntegralInRange<uint8_t>(0, 3, kind);
    if (kind <= 1) e_.IntegralInRange<uint8_t>(0, 3, port);
    if (kind == 1) e_.IntegralInRange<uint8_t>(1, 64, data);
    return *this;
  }
  Seed& HostGarbage(const std::string& bytes) {
    Opcode(kHostConnect);
    e_.IntegralInRange<uint8_t>(0, 3, 2).IntegralInRange<uint8_t>(0, 40,
                                                                  static_cast<uint8_t>(bytes.size()));
    e_.Bytes(bytes);
    return *this;
  }
  Seed& HostWrite(uint16_t length) {
    Opcode(kHostWrite);
    e_.Integral<uint8_t>(0).IntegralInRange<uint16_t>(1, 8192, length).Integral<uint8_t>(3);
    return *this;
  }
  Seed& HostRead() {
    Opcode(kHostRead);
    e_.Integral<uint8_t>(0);
    return *this;
  }
  Seed& HostClose(bool full) {
    Opcode(kHostClose);
    e_.Integral<uint8_t>(0).Bool(full);
    return *this;
  }
  Seed& Simple(Op op) {
    Opcode(op);
    return *this;
  }
  Seed& BreakRing(uint8_t queue) {
    Opcode(kBreakRing);
    e_.IntegralInRange<uint8_t>(0, 2, queue).Integral<uint8_t>(3);
    return *this;
  }
  std::vector<uint8_t> Finish() const { return e_.Finish(); }

 private:
  void Opcode(Op op) { e_.IntegralInRange<uint8_t>(0, kLastOp, op); }
  FdpEncoder e_;
};

Packet Pkt(uint8_t op, uint8_t guest_port = 0, uint8_t host_port = 0) {
  Packet p;
  p.op = op;
  p.guest_port = guest_port;
  p.host_port = host_port;
  return p;
}
Packet Data(uint8_t guest_port, uint16_t length) {
  Packet p = Pkt(VIRTIO_VSOCK_OP_RW, guest_port);
  p.payload_kind = 2;
  p.payload = length;
  p.pieces = 2;
  return p;
}

std::map<std::string, std::function<std::vector<uint8_t>()>> AllSeeds() {
  return {
      {"connect_data_shutdown",
       [] {
         Packet shutdown = Pkt(VIRTIO_VSOCK_OP_SHUTDOWN);
         shutdown.flags = 3;
         return Seed(3, 8, 8, 4)
             .Rx(8)
             .Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST))
             .Process(1)
             .Process(0)
             .Tx(Data(0, 1000))
             .Process(1)
             .HostWrite(3000)
             .Process(0)
             .HostRead()
             .Tx(Pkt(VIRTIO_VSOCK_OP_CREDIT_UPDATE))
             .Tx(Pkt(VIRTIO_VSOCK_OP_CREDIT_REQUEST))
             .Process(1)
             .Process(0)
             .Tx(shutdown)
             .Process(1)
             .Process(0)
             .Finish();
       }},
      {"no_listener",
       [] {
         return Seed(0, 4, 4, 2).Rx(2).Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST, 1, 1)).Process(1).Process(0).Finish();
       }},
      {"malformed",
       [] {
         Packet short_header = Pkt(VIRTIO_VSOCK_OP_REQUEST);
         short_header.short_header = 20;
         Packet bad_len = Data(1, 10);
         bad_len.honest_len = false;
         bad_len.raw_len = 5000;
         Packet big = Pkt(VIRTIO_VSOCK_OP_RW, 2);
         big.payload_kind = 3;
         big.payload = 7;  // 65537
         Packet seqpacket = Pkt(VIRTIO_VSOCK_OP_REQUEST, 2);
         seqpacket.raw_type = true;
         seqpacket.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
         Packet spoofed = Pkt(VIRTIO_VSOCK_OP_REQUEST, 1);
         spoofed.cids = 1;
         return Seed(2, 8, 8, 4)
             .Rx(4, 0)
             .Rx(8)
             .Tx(short_header)
             .Tx(bad_len)
             .Tx(big)
             .Tx(Pkt(0))
             .Tx(seqpacket)
             .Tx(spoofed)
             .Process(1)
             .Process(0)
             .Finish();
       }},
      {"credit",
       [] {
         Packet request = Pkt(VIRTIO_VSOCK_OP_REQUEST);
         request.buf_alloc = 1;  // 16 bytes
         Packet update = Pkt(VIRTIO_VSOCK_OP_CREDIT_UPDATE);
         update.buf_alloc = 1;
         return Seed(1, 8, 8, 4)
             .Rx(16)
             .Tx(request)
             .Process(1)
             .Process(0)
             .HostWrite(500)
             .Process(0)
             .Process(0)
             .Tx(update)
             .Process(1)
             .Process(0)
             .Finish();
       }},
      {"over_credit",
       [] {
         Packet flood = Data(0, 4200);
         return Seed(0, 8, 8, 4)
             .Rx(4)
             .Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST))
             .Tx(flood)
             .Tx(flood)
             .Process(1)
             .Process(0)
             .Finish();
       }},
      {"connection_flood",
       [] {
         Seed seed(0, 8, 8, 4);
         seed.Rx(16);
         for (uint8_t i = 0; i < 3; ++i) {
           Packet request = Pkt(VIRTIO_VSOCK_OP_REQUEST, 3);  // raw guest port: all the same
           seed.Tx(request);
         }
         for (uint8_t i = 0; i < 3; ++i) seed.Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST, i));
         return seed.Process(1).Process(0).Finish();
       }},
      {"resets",
       [] {
         return Seed(1, 8, 8, 4)
             .Rx(8)
             .Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST))
             .Process(1)
             .Process(0)
             .Simple(kTransportReset)
             .Events(2)
             .Process(2)
             .Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST, 1))
             .Process(1)
             .Simple(kReset)
             .Rx(4)
             .Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST, 2))
             .Process(1)
             .Process(0)
             .HostClose(false)
             .Process(0)
             .Finish();
       }},
      {"host_connect",
       [] {
         Packet response = Pkt(VIRTIO_VSOCK_OP_RESPONSE, 0, 2);
         Packet data = Data(0, 100);
         data.host_port = 2;
         Packet shutdown = Pkt(VIRTIO_VSOCK_OP_SHUTDOWN, 0, 2);
         shutdown.flags = 2;
         Packet rst = Pkt(VIRTIO_VSOCK_OP_RST, 1, 2);
         rst.host_offset = 1;
         return Seed(0, 8, 8, 4)
             .Rx(8)
             .HostConnect(1, 0, 10)
             .Tx(response)
             .Process(1)
             .HostWrite(200)
             .Tx(data)
             .Process(1)
             .HostRead()
             .Tx(shutdown)
             .Process(1)
             .HostClose(true)
             .Process(0)
             .HostGarbage("HELLO\n")
             .HostGarbage("CONNECT 99999999999\n")
             .HostConnect(3)
             .HostConnect(3)
             .HostConnect(3)
             .HostConnect(0, 1)
             .Tx(rst)
             .Process(1)
             .Finish();
       }},
      {"rst_backpressure",
       [] {
         // More RSTs due than the device holds, and no RX buffer: TX stops, then resumes
         // as RX buffers come.
         Seed seed(0, 8, 8, 4);
         for (uint8_t i = 0; i < 3; ++i) seed.Tx(Data(i, 10));
         for (uint8_t i = 0; i < 3; ++i) seed.Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST, i, 1));
         return seed.Process(1).Rx(1).Process(0).Rx(8).Process(0).Finish();
       }},
      {"broken_ring",
       [] { return Seed(0, 2, 2, 1).BreakRing(1).Process(1).Tx(Pkt(VIRTIO_VSOCK_OP_REQUEST)).Process(1).Finish(); }},
  };
}

}  // namespace
}  // namespace vmmd::fuzz::vsock_packet

int main(int argc, char** argv) {
  using vmmd::fuzz::vsock_packet::AllSeeds;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s KIND OUT_DIR SEED...\n", argv[0]);
    return 2;
  }
  const auto seeds = AllSeeds();
  for (int i = 3; i < argc; ++i) {
    const auto seed = seeds.find(argv[i]);
    if (seed == seeds.end()) {
      std::fprintf(stderr, "vsock_seed_gen: no seed %s\n", argv[i]);
      return 1;
    }
    const std::vector<uint8_t> bytes = seed->second();
    const std::string path = std::string(argv[2]) + "/" + argv[i];
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
        std::fclose(f) != 0) {
      std::fprintf(stderr, "vsock_seed_gen: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}

#else
// ---------------------------------------------------------------------------------------
// The fuzzer.
#include <errno.h>
#include <linux/virtio_vsock.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/event_loop.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "devices/virtio/split_ring.h"
#include "devices/virtio/virtqueue.h"
#include "devices/virtio/vsock/packet.h"
#include "devices/virtio/vsock/unix_socket.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_one_input.h"
#include "tests/fuzz/guest_ram.h"

namespace vmmd::fuzz {
namespace {

using namespace ::vmmd::fuzz::vsock_packet;  // NOLINT: the format's constants
using ::vmmd::virtio::DeviceCounters;
using ::vmmd::virtio::Virtqueue;
using ::vmmd::virtio::VsockDevice;
using ::vmmd::virtio::VsockLimits;
using ::vmmd::virtio::VsockStats;
namespace vsock = ::vmmd::virtio::vsock;

constexpr int kMaxOperations = 300;
constexpr uint64_t kGuestCid = 3;
constexpr uint64_t kMemorySize = 4 << 20;
constexpr uint8_t kFill = 0xaa;  // what RX and event buffers hold before the device writes
// Rounds of no-op tasks a settle may take (each handler chain needs one per hop).
constexpr int kMaxSettleRounds = 64;

// Per queue: its rings, its buffers' arena and its indirect tables (4 entries per head).
struct QueueArea {
  uint64_t descriptors, available, used;
  uint64_t arena_begin, arena_end;
  uint64_t tables;
};
constexpr QueueArea kAreas[3] = {
    {0x1000, 0x2000, 0x3000, 0x100000, 0x200000, 0x10000},  // rx
    {0x4000, 0x5000, 0x6000, 0x200000, 0x3f0000, 0x14000},  // tx
    {0x7000, 0x7800, 0x7c00, 0x3f0000, 0x400000, 0x18000},  // event
};
constexpr uint16_t kMaxSizes[3] = {VsockDevice::kRxQueueSize, VsockDevice::kTxQueueSize,
                                   VsockDevice::kEventQueueSize};

VsockLimits Limits() {
  VsockLimits limits;
  limits.max_connections = 4;
  limits.max_pending_host_connections = 2;
  limits.buffer_size = 4096;
  limits.max_queued_resets = 3;
  // Never reached within an input: timers would make replays depend on time.
  limits.connect_line_timeout = std::chrono::minutes(10);
  limits.timeouts.handshake = std::chrono::minutes(10);
  limits.timeouts.shutdown = std::chrono::minutes(10);
  return limits;
}

// The sockets' directory and the host service at "<uds>_52", made once per process.
struct Host {
  std::string dir;
  std::string uds;
  UniqueFd service;

  static Host& Get() {
    static Host* host = [] {
      auto* h = new Host();
      const char* tmp = getenv("TEST_TMPDIR");
      const std::string base = tmp != nullptr && std::strlen(tmp) < 60 ? tmp : "/tmp";
      h->dir = base + "/vsock-fuzz-XXXXXX";
      FUZZ_CHECK(mkdtemp(h->dir.data()) != nullptr, "mkdtemp");
      h->uds = h->dir + "/v.sock";
      absl::StatusOr<UniqueFd> service =
          vsock::ListenUnix(vsock::PortSocketPath(h->uds, kListeningPort));
      FUZZ_CHECK(service.ok(), service.status().ToString());
      h->service = *std::move(service);
      std::atexit([] {
        Host& host = Get();
        ::unlink(vsock::PortSocketPath(host.uds, kListeningPort).c_str());
        ::unlink(host.uds.c_str());
        ::rmdir(host.dir.c_str());
      });
      return h;
    }();
    return *host;
  }
};

struct Buffer {
  uint64_t address;
  uint32_t length;
  bool writable;
};

struct Chain {
  std::vector<Buffer> buffers;
  std::vector<uint16_t> descriptors;
  uint32_t writable_length() const {
    uint32_t n = 0;
    for (const Buffer& b : buffers) n += b.writable ? b.length : 0;
    return n;
  }
};

// What the guest knows of one connection, for the credit check.
struct KeyModel {
  uint32_t received = 0;                               // RW bytes since REQUEST/RESPONSE
  std::vector<std::pair<uint32_t, uint32_t>> credits;  // every (buf_alloc, fwd_cnt) sent
};

// A buffer reused across inputs (fresh allocations cost page faults under ASan's
// quarantine), one per thread: the fuzzer's and the loop's use theirs at the same time.
std::vector<uint8_t>& Scratch(size_t size) {
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < size) scratch.resize(size);
  return scratch;
}

// The fuzzer thread plays the guest's driver and the host's programs; the loop thread runs
// the device. `mutex_` is the transport's lock: the loop holds it around ProcessQueue and
// its checks, the fuzzer while it writes rings and buffers.
class Harness {
 public:
  Harness(GuestMemory& memory, VsockDevice& device, EventLoop& loop, uint8_t features,
          const uint16_t sizes[3])
      : memory_(memory),
        device_(device),
        loop_(loop),
        event_idx_(features & 1),
        indirect_(features & 2),
        ram_(memory.size()) {
    for (int q = 0; q < 3; ++q) sizes_[q] = sizes[q];
    MutexLock lock(&mutex_);
    StartQueues();
  }

  // After the loop stopped: the host side goes.
  ~Harness() {
    peers_.clear();
    while (true) {
      absl::StatusOr<std::optional<UniqueFd>> next = vsock::AcceptUnix(Host::Get().service.get());
      if (!next.ok() || !*next) break;
    }
  }

  // --- The transport (loop thread).
  void Serve(size_t queue) {
    MutexLock lock(&mutex_);
    serves_.fetch_add(1);
    if (!live_) return;
    const absl::Status status = device_.ProcessQueue(queue, *queues_[queue], memory_);
    if (!status.ok()) {
      FUZZ_CHECK(broken_[queue] && status.code() == absl::StatusCode::kInvalidArgument,
                 absl::StrCat("ProcessQueue(", queue, "): ", status.ToString()));
      live_ = false;  // DEVICE_NEEDS_RESET: nothing is served until the driver resets
      return;
    }
    CheckUsed(queue);
    CheckRings();
    CheckBounds();
  }

  // DRIVER_OK: Device::Activate under the lock, then every queue notified.
  void Activate() {
    {
      MutexLock lock(&mutex_);
      device_.Activate((event_idx_ ? virtio::kFeatureEventIdx : 0) |
                       (indirect_ ? virtio::kFeatureIndirectDesc : 0));
      live_ = true;
    }
    for (size_t q = 0; q < 3; ++q) Notify(q);
  }

  // --- The driver and the host (fuzzer thread).

  void Notify(size_t queue) {
    RunOnLoop([this, queue] { Serve(queue); });
    Settle();
  }

  void WrongIndex(uint8_t index) {
    RunOnLoop([this, index] {
      MutexLock lock(&mutex_);
      const absl::Status status = device_.ProcessQueue(index, *queues_[0], memory_);
      FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
      CheckRings();
    });
    Settle();
  }

  void TxPacket(FuzzedDataProvider& p) {
    virtio_vsock_hdr h;
    std::memset(&h, 0, sizeof(h));
    const uint8_t op = p.ConsumeIntegralInRange<uint8_t>(0, 8);
    h.op = op < 8 ? op : p.ConsumeIntegral<uint16_t>();
    const uint8_t guest_port = p.ConsumeIntegralInRange<uint8_t>(0, 3);
    h.src_port = guest_port < 3 ? 1000 + guest_port : p.ConsumeIntegral<uint32_t>();
    switch (p.ConsumeIntegralInRange<uint8_t>(0, 3)) {
      case 0:
        h.dst_port = kListeningPort;
        break;
      case 1:
        h.dst_port = kSilentPort;
        break;
      case 2:
        h.dst_port = (uint32_t{1} << 30) + p.ConsumeIntegralInRange<uint8_t>(0, 3);
        break;
      default:
        h.dst_port = p.ConsumeIntegral<uint32_t>();
        break;
    }
    const uint8_t cids = p.ConsumeIntegralInRange<uint8_t>(0, 3);
    h.src_cid = (cids & 1) ? p.ConsumeIntegral<uint64_t>() : kGuestCid;
    h.dst_cid = (cids & 2) ? p.ConsumeIntegral<uint64_t>() : vsock::kHostCid;
    h.type = p.ConsumeBool() ? p.ConsumeIntegral<uint16_t>()
                              : static_cast<uint16_t>(VIRTIO_VSOCK_TYPE_STREAM);
    h.flags = p.ConsumeBool() ? p.ConsumeIntegral<uint32_t>()
                              : p.ConsumeIntegralInRange<uint8_t>(0, 3);
    switch (p.ConsumeIntegralInRange<uint8_t>(0, 4)) {
      case 0:
        h.buf_alloc = 0;
        break;
      case 1:
        h.buf_alloc = 16;
        break;
      case 2:
        h.buf_alloc = 4096;
        break;
      case 3:
        h.buf_alloc = 65536;
        break;
      default:
        h.buf_alloc = p.ConsumeIntegral<uint32_t>();
        break;
    }
    const vsock::ConnectionKey key = vsock::KeyOf(h);
    const uint8_t fwd_choice = p.ConsumeIntegralInRange<uint8_t>(0, 2);
    const uint32_t raw_fwd_cnt = fwd_choice == 2 ? p.ConsumeIntegral<uint32_t>() : 0;
    uint32_t payload = 0;
    switch (p.ConsumeIntegralInRange<uint8_t>(0, 4)) {
      case 0:
        break;
      case 1:
        payload = p.ConsumeIntegralInRange<uint16_t>(1, 64);
        break;
      case 2:
        payload = p.ConsumeIntegralInRange<uint16_t>(1, 4200);
        break;
      case 3:
        payload = p.ConsumeIntegralInRange<uint32_t>(65530, 65540);
        break;
      default:
        payload = p.ConsumeIntegralInRange<uint32_t>(0, 70000);
        break;
    }
    h.len = p.ConsumeBool() ? payload : p.ConsumeIntegral<uint32_t>();
    const uint32_t header_bytes =
        p.ConsumeBool() ? p.ConsumeIntegralInRange<uint8_t>(0, 43) : vsock::kHeaderSize;
    const uint32_t total = header_bytes + payload;
    std::vector<uint32_t> cuts;
    const uint8_t pieces = p.ConsumeIntegralInRange<uint8_t>(1, 3);
    for (uint8_t i = 1; i < pieces; ++i) cuts.push_back(p.ConsumeIntegralInRange<uint32_t>(0, total));
    const bool indirect = p.ConsumeBool() && indirect_;
    const uint8_t pattern = p.ConsumeIntegral<uint8_t>();

    MutexLock lock(&mutex_);
    KeyModel& model = keys_[key];
    h.fwd_cnt = fwd_choice == 0 ? model.received : raw_fwd_cnt;
    // Every pair the guest sends may be the one the device goes by: a superset is sound.
    model.credits.emplace_back(uint32_t{h.buf_alloc}, uint32_t{h.fwd_cnt});

    std::vector<uint8_t>& bytes = Scratch(total);
    std::memcpy(bytes.data(), &h, std::min<uint32_t>(header_bytes, sizeof(h)));
    for (uint32_t i = 0; i < payload; ++i) bytes[header_bytes + i] = static_cast<uint8_t>(pattern + i);
    std::sort(cuts.begin(), cuts.end());
    const std::optional<uint64_t> base = Take(1, total);
    if (!base) return;
    std::vector<Buffer> buffers;
    uint32_t at = 0;
    for (uint32_t cut : cuts) {
      buffers.push_back({*base + at, cut - at, false});
      at = cut;
    }
    buffers.push_back({*base + at, total - at, false});
    WriteRam(*base, bytes.data(), total);
    Submit(1, std::move(buffers), indirect);
  }

  void RxBuffers(FuzzedDataProvider& p) {
    const uint8_t count = p.ConsumeIntegralInRange<uint8_t>(1, 16);
    for (uint8_t i = 0; i < count; ++i) {
      uint32_t size = 0;
      switch (p.ConsumeIntegralInRange<uint8_t>(0, 3)) {
        case 0:
          size = p.ConsumeIntegralInRange<uint8_t>(0, 43);
          break;
        case 1:
          size = vsock::kHeaderSize;
          break;
        case 2:
          size = p.ConsumeIntegralInRange<uint16_t>(45, 300);
          break;
        default:
          size = vsock::kHeaderSize + 4096;
          break;
      }
      const bool readable_first = p.ConsumeBool();
      const uint8_t pieces = p.ConsumeIntegralInRange<uint8_t>(1, 2);
      const uint32_t cut = pieces == 2 ? p.ConsumeIntegralInRange<uint32_t>(0, size) : size;
      const bool indirect = p.ConsumeBool() && indirect_;
      const uint32_t readable = readable_first ? 16 : 0;
      MutexLock lock(&mutex_);
      const std::optional<uint64_t> base = Take(0, readable + size);
      if (!base) continue;
      std::vector<Buffer> buffers;
      if (readable_first) {
        buffers.push_back({*base, readable, false});
        std::vector<uint8_t>& junk = Scratch(readable);
        for (uint32_t j = 0; j < readable; ++j) junk[j] = static_cast<uint8_t>(0x30 + j);
        WriteRam(*base, junk.data(), readable);
      }
      buffers.push_back({*base + readable, cut, true});
      if (pieces == 2) buffers.push_back({*base + readable + cut, size - cut, true});
      FillRam(*base + readable, kFill, size);
      Submit(0, std::move(buffers), indirect);
    }
  }

  void EventBuffers(FuzzedDataProvider& p) {
    const uint8_t count = p.ConsumeIntegralInRange<uint8_t>(1, 4);
    for (uint8_t i = 0; i < count; ++i) {
      const uint8_t size = p.ConsumeIntegralInRange<uint8_t>(0, 8);
      MutexLock lock(&mutex_);
      const std::optional<uint64_t> base = Take(2, size);
      if (!base) continue;
      FillRam(*base, kFill, size);
      Submit(2, {{*base, size, true}}, false);
    }
  }

  void HostConnect(FuzzedDataProvider& p) {
    std::string first;
    const uint8_t kind = p.ConsumeIntegralInRange<uint8_t>(0, 3);
    if (kind <= 1) {
      first = absl::StrCat("CONNECT ", 1000 + p.ConsumeIntegralInRange<uint8_t>(0, 3), "\n");
      if (kind == 1) first += std::string(p.ConsumeIntegralInRange<uint8_t>(1, 64), 'd');
    } else if (kind == 2) {
      first = p.ConsumeBytesAsString(p.ConsumeIntegralInRange<uint8_t>(0, 40));
    }
    absl::StatusOr<UniqueFd> program = vsock::ConnectUnix(Host::Get().uds);
    if (!program.ok()) return;  // the backlog is full
    if (!first.empty()) {
      (void)::send(program->get(), first.data(), first.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    peers_.push_back(*std::move(program));
    Settle();
  }

  void HostWrite(uint8_t which, uint16_t length, uint8_t pattern) {
    AcceptAll();
    if (peers_.empty()) return;
    std::vector<uint8_t>& bytes = Scratch(length);
    for (uint16_t i = 0; i < length; ++i) bytes[i] = static_cast<uint8_t>(pattern + i);
    (void)::send(peers_[which % peers_.size()].get(), bytes.data(), length,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
    Settle();
  }

  void HostRead(uint8_t which) {
    AcceptAll();
    if (peers_.empty()) return;
    std::vector<uint8_t>& bytes = Scratch(1 << 16);
    (void)::recv(peers_[which % peers_.size()].get(), bytes.data(), 1 << 16, MSG_DONTWAIT);
    Settle();
  }

  void HostClose(uint8_t which, bool full) {
    AcceptAll();
    if (peers_.empty()) return;
    const size_t index = which % peers_.size();
    if (full) {
      peers_.erase(peers_.begin() + static_cast<long>(index));
    } else {
      ::shutdown(peers_[index].get(), SHUT_WR);
    }
    Settle();
  }

  // The driver writes status 0 (the device is reset on this, the "vCPU", thread under the
  // transport's lock; its queues are new), then sets everything up and writes DRIVER_OK.
  void DriverReset() {
    {
      MutexLock lock(&mutex_);
      device_.Reset();
      StartQueues();
      keys_.clear();
    }
    Activate();
  }

  void TransportReset() {
    {
      MutexLock lock(&mutex_);
      ++transport_resets_;
    }
    device_.PostTransportReset();
    Settle();
  }

  void BreakRing(uint8_t queue, uint8_t amount) {
    MutexLock lock(&mutex_);
    const uint64_t idx_at = kAreas[queue].available + virtio::kAvailIdxOffset;
    uint16_t idx;
    std::memcpy(&idx, &ram_[idx_at], 2);
    idx = static_cast<uint16_t>(idx + sizes_[queue] + 1 + amount);
    WriteRam(idx_at, reinterpret_cast<const uint8_t*>(&idx), 2);
    broken_[queue] = true;
  }

  // Runs no-op tasks until the loop has a round without ProcessQueue: every handler that
  // the last operation woke has run, and what they woke in turn. A device that the driver
  // broke is reset then.
  void Settle() {
    for (int round = 0; round < kMaxSettleRounds; ++round) {
      const uint64_t before = serves_.load();
      RunOnLoop([] {});
      if (serves_.load() == before) break;
    }
    bool needs_reset;
    {
      MutexLock lock(&mutex_);
      needs_reset = !live_;
    }
    if (needs_reset) DriverReset();
  }

 private:
  // Runs `task` on the loop thread and waits for it (vmmd::Mutex, which TSan sees, so that
  // the replay can run under --config=tsan).
  void RunOnLoop(std::function<void()> task) {
    Mutex done_mutex;
    bool done = false;
    const absl::Status posted = loop_.Post([&] {
      task();
      MutexLock lock(&done_mutex);
      done = true;
    });
    FUZZ_CHECK(posted.ok(), posted.ToString());
    MutexLock lock(&done_mutex);
    auto finished = [&done]() { return done; };
    done_mutex.Await(absl::Condition(&finished));
  }

  void AcceptAll() {
    while (peers_.size() < 64) {
      absl::StatusOr<std::optional<UniqueFd>> next = vsock::AcceptUnix(Host::Get().service.get());
      if (!next.ok() || !*next) return;
      peers_.push_back(std::move(**next));
    }
  }

  // --- Guest memory, under mutex_.

  void WriteRam(uint64_t address, const uint8_t* bytes, uint64_t length) {
    FUZZ_CHECK(memory_.WriteBytes(GuestAddress(address), absl::MakeConstSpan(bytes, length)).ok(),
               "driver write outside RAM");
    std::memcpy(&ram_[address], bytes, length);
  }
  void FillRam(uint64_t address, uint8_t value, uint64_t length) {
    FUZZ_CHECK(memory_.Fill(GuestAddress(address), value, length).ok(), "driver fill outside RAM");
    std::memset(&ram_[address], value, length);
  }
  template <typename T>
  void WriteRamValue(uint64_t address, const T& value) {
    WriteRam(address, reinterpret_cast<const uint8_t*>(&value), sizeof(T));
  }
  template <typename T>
  T ReadGuest(uint64_t address) const {
    absl::StatusOr<T> value = memory_.Read<T>(GuestAddress(address));
    FUZZ_CHECK(value.ok(), "read outside RAM");
    return *value;
  }
  // Guest bytes [address, + length) equal what the driver wrote there.
  bool Untouched(uint64_t address, uint64_t length) const {
    std::vector<uint8_t>& bytes = Scratch(length);
    FUZZ_CHECK(memory_.ReadBytes(GuestAddress(address), absl::MakeSpan(bytes.data(), length)).ok(),
               "read outside RAM");
    return std::memcmp(bytes.data(), &ram_[address], length) == 0;
  }

  // Fresh rings, every chain forgotten, each queue ready with the features.
  void StartQueues() {
    for (int q = 0; q < 3; ++q) {
      const QueueArea& a = kAreas[q];
      FillRam(a.descriptors, 0, 16 * uint64_t{sizes_[q]});
      FillRam(a.available, 0, 6 + 2 * uint64_t{sizes_[q]});
      FillRam(a.used, 0, 6 + 8 * uint64_t{sizes_[q]});
      absl::StatusOr<Virtqueue> queue = Virtqueue::Create(kMaxSizes[q]);
      FUZZ_CHECK(queue.ok(), queue.status().ToString());
      FUZZ_CHECK(queue->SetSize(sizes_[q]).ok() &&
                     queue->SetDescriptorTable(GuestAddress(a.descriptors)).ok() &&
                     queue->SetAvailableRing(GuestAddress(a.available)).ok() &&
                     queue->SetUsedRing(GuestAddress(a.used)).ok() &&
                     queue
                         ->SetFeatures((event_idx_ ? virtio::kFeatureEventIdx : 0) |
                                       (indirect_ ? virtio::kFeatureIndirectDesc : 0))
                         .ok(),
                 "configuring a queue");
      const absl::Status ready = queue->SetReady(memory_);
      FUZZ_CHECK(ready.ok(), ready.ToString());
      queues_[q].emplace(*std::move(queue));
      pending_[q].clear();
      in_use_[q].assign(sizes_[q], false);
      next_[q] = a.arena_begin;
      used_seen_[q] = 0;
      broken_[q] = false;
    }
  }

  // `length` bytes of queue q's arena that no chain in flight uses: the arena only starts
  // over when the queue has none.
  std::optional<uint64_t> Take(int q, uint64_t length) {
    const QueueArea& a = kAreas[q];
    if (length > a.arena_end - a.arena_begin) return std::nullopt;
    if (length > a.arena_end - next_[q]) {
      if (!pending_[q].empty()) return std::nullopt;
      next_[q] = a.arena_begin;
    }
    const uint64_t at = next_[q];
    next_[q] += (length + 7) / 8 * 8;
    return at;
  }

  // Lays `buffers` out on queue q's free descriptors (directly, or in an indirect table) and
  // makes the chain available; dropped when descriptors run out.
  void Submit(int q, std::vector<Buffer> buffers, bool indirect) {
    // Spec 2.7.5.3.1: a chain is at most the queue size (an indirect table's too).
    if (buffers.empty() || buffers.size() > sizes_[q]) return;
    const size_t needed = indirect ? 1 : buffers.size();
    std::vector<uint16_t> free;
    for (uint16_t i = 0; i < sizes_[q] && free.size() < needed; ++i) {
      if (!in_use_[q][i]) free.push_back(i);
    }
    if (free.size() < needed) return;
    const QueueArea& a = kAreas[q];
    const uint16_t head = free[0];
    auto write = [this](uint64_t table, uint16_t index, const Buffer& b, bool more, uint16_t next) {
      vring_desc d;
      d.addr = b.address;
      d.len = b.length;
      d.flags = static_cast<uint16_t>((b.writable ? VRING_DESC_F_WRITE : 0) |
                                      (more ? VRING_DESC_F_NEXT : 0));
      d.next = next;
      WriteRamValue(table + 16 * uint64_t{index}, d);
    };
    if (indirect) {
      const uint64_t table = a.tables + 64 * uint64_t{head};
      for (size_t i = 0; i < buffers.size(); ++i) {
        write(table, static_cast<uint16_t>(i), buffers[i], i + 1 < buffers.size(),
              static_cast<uint16_t>(i + 1));
      }
      vring_desc d;
      d.addr = table;
      d.len = static_cast<uint32_t>(16 * buffers.size());
      d.flags = VRING_DESC_F_INDIRECT;
      d.next = 0;
      WriteRamValue(a.descriptors + 16 * uint64_t{head}, d);
    } else {
      for (size_t i = 0; i < buffers.size(); ++i) {
        write(a.descriptors, free[i], buffers[i], i + 1 < buffers.size(),
              i + 1 < free.size() ? free[i + 1] : 0);
      }
    }
    for (uint16_t d : free) in_use_[q][d] = true;
    uint16_t idx;
    std::memcpy(&idx, &ram_[a.available + virtio::kAvailIdxOffset], 2);
    WriteRamValue<uint16_t>(a.available + virtio::AvailEntryOffset(idx % sizes_[q]), head);
    WriteRamValue<uint16_t>(a.available + virtio::kAvailIdxOffset, static_cast<uint16_t>(idx + 1));
    pending_[q][head] = Chain{std::move(buffers), std::move(free)};
  }

  // Bytes [offset, offset + length) of a chain's writable part.
  std::vector<uint8_t> Gather(const Chain& chain, uint64_t offset, uint64_t length) const {
    std::vector<uint8_t> out;
    out.reserve(length);
    for (const Buffer& b : chain.buffers) {
      if (!b.writable) continue;
      if (offset >= b.length) {
        offset -= b.length;
        continue;
      }
      const uint64_t take = std::min<uint64_t>(b.length - offset, length);
      const size_t at = out.size();
      out.resize(at + take);
      FUZZ_CHECK(memory_.ReadBytes(GuestAddress(b.address + offset), absl::MakeSpan(&out[at], take)).ok(),
                 "read outside RAM");
      length -= take;
      offset = 0;
      if (length == 0) break;
    }
    return out;
  }

  void CheckUsed(size_t q) {
    const QueueArea& a = kAreas[q];
    const uint16_t used_idx = ReadGuest<uint16_t>(a.used + virtio::kUsedIdxOffset);
    while (used_seen_[q] != used_idx) {
      const vring_used_elem element =
          ReadGuest<vring_used_elem>(a.used + virtio::UsedElementOffset(used_seen_[q] % sizes_[q]));
      ++used_seen_[q];
      ++requests_;
      auto found = pending_[q].find(static_cast<uint16_t>(element.id));
      FUZZ_CHECK(element.id < sizes_[q] && found != pending_[q].end(),
                 absl::StrCat("queue ", q, " used id ", element.id, " is not in flight"));
      Chain chain = std::move(found->second);
      pending_[q].erase(found);
      for (uint16_t d : chain.descriptors) in_use_[q][d] = false;
      // Device-readable buffers are never written (2.7.5.1).
      for (const Buffer& b : chain.buffers) {
        if (!b.writable) {
          FUZZ_CHECK(Untouched(b.address, b.length), absl::StrCat("queue ", q, ": a readable byte changed"));
        }
      }
      const uint32_t writable = chain.writable_length();
      FUZZ_CHECK(element.len <= writable,
                 absl::StrCat("queue ", q, " used length ", element.len, " > writable ", writable));
      for (uint8_t byte : Gather(chain, element.len, writable - element.len)) {
        FUZZ_CHECK(byte == kFill, absl::StrCat("queue ", q, ": written past the used length"));
      }
      if (q == VsockDevice::kTxQueue) {
        FUZZ_CHECK(element.len == 0, "a TX chain came back with a length");
      } else if (q == VsockDevice::kEventQueue) {
        FUZZ_CHECK(element.len == 0 || element.len == 4, "event length");
        if (element.len == 4) {
          ++events_;
          FUZZ_CHECK(Gather(chain, 0, 4) == std::vector<uint8_t>(4, 0),
                     "the event is not VIRTIO_VSOCK_EVENT_TRANSPORT_RESET");
          FUZZ_CHECK(events_ <= transport_resets_, "more events than transport resets");
        } else {
          FUZZ_CHECK(writable < 4, "an event buffer with room came back empty");
        }
      } else {
        CheckRxPacket(chain, element.len);
      }
    }
  }

  void CheckRxPacket(const Chain& chain, uint32_t used) {
    if (used == 0) {
      FUZZ_CHECK(chain.writable_length() < vsock::kHeaderSize,
                 "an RX buffer with room for a header came back empty");
      return;
    }
    FUZZ_CHECK(used >= vsock::kHeaderSize, "an RX packet shorter than its header");
    ++packets_;
    const std::vector<uint8_t> bytes = Gather(chain, 0, vsock::kHeaderSize);
    virtio_vsock_hdr h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    FUZZ_CHECK(h.src_cid == vsock::kHostCid && h.dst_cid == kGuestCid, "RX addresses");
    FUZZ_CHECK(h.type == VIRTIO_VSOCK_TYPE_STREAM, "RX type");
    FUZZ_CHECK(h.op >= VIRTIO_VSOCK_OP_REQUEST && h.op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST,
               absl::StrCat("RX op ", h.op));
    FUZZ_CHECK(h.len == used - vsock::kHeaderSize, "used length is not 44 + len");
    FUZZ_CHECK(h.op == VIRTIO_VSOCK_OP_RW ? h.len >= 1 && h.len <= vsock::kMaxPayload : h.len == 0,
               absl::StrCat("RX len ", h.len, " for op ", h.op));
    FUZZ_CHECK(h.op == VIRTIO_VSOCK_OP_SHUTDOWN ? (h.flags & ~3u) == 0 : h.flags == 0, "RX flags");
    FUZZ_CHECK(h.op != VIRTIO_VSOCK_OP_REQUEST || h.src_port >= (uint32_t{1} << 30),
               "a REQUEST from a host port outside the allocator's range");
    FUZZ_CHECK(h.buf_alloc == Limits().buffer_size ||
                   (h.op == VIRTIO_VSOCK_OP_RST && h.buf_alloc == 0 && h.fwd_cnt == 0),
               absl::StrCat("RX buf_alloc ", h.buf_alloc));
    bytes_read_ += h.len;
    KeyModel& model = keys_[vsock::ConnectionKey{h.src_port, h.dst_port}];
    if (h.op == VIRTIO_VSOCK_OP_REQUEST || h.op == VIRTIO_VSOCK_OP_RESPONSE) model.received = 0;
    if (h.op == VIRTIO_VSOCK_OP_RW) {
      model.received += h.len;
      bool within = false;
      for (const auto& [buf_alloc, fwd_cnt] : model.credits) {
        within |= static_cast<uint32_t>(model.received - fwd_cnt) <= buf_alloc;
      }
      FUZZ_CHECK(within, absl::StrCat("an RW past every credit the guest gave: ", model.received,
                                      " bytes to guest port ", h.dst_port));
    }
  }

  void CheckRings() {
    for (int q = 0; q < 3; ++q) {
      const QueueArea& a = kAreas[q];
      FUZZ_CHECK(Untouched(a.descriptors, 16 * uint64_t{sizes_[q]}), "a descriptor changed");
      FUZZ_CHECK(Untouched(a.available, 4 + 2 * uint64_t{sizes_[q]}), "the available ring changed");
    }
    const DeviceCounters counters = device_.counters();
    FUZZ_CHECK(counters.requests == requests_,
               absl::StrCat("requests ", counters.requests, " but ", requests_, " chains used"));
    FUZZ_CHECK(counters.packets_received == packets_, "packets_received");
    FUZZ_CHECK(counters.bytes_read == bytes_read_, "bytes_read");
  }

  void CheckBounds() {
    const VsockStats stats = device_.stats();
    const VsockLimits limits = Limits();
    FUZZ_CHECK(stats.connections <= limits.max_connections,
               absl::StrCat(stats.connections, " connections"));
    FUZZ_CHECK(stats.pending_host_connections <= limits.max_pending_host_connections,
               absl::StrCat(stats.pending_host_connections, " host programs waiting"));
    FUZZ_CHECK(stats.queued_resets <= limits.max_queued_resets,
               absl::StrCat(stats.queued_resets, " queued RSTs"));
    FUZZ_CHECK(stats.buffered_bytes <= stats.connections * uint64_t{limits.buffer_size} &&
                   stats.buffered_bytes <= limits.max_buffered_bytes,
               absl::StrCat(stats.buffered_bytes, " bytes buffered"));
  }

  GuestMemory& memory_;
  VsockDevice& device_;
  EventLoop& loop_;
  const bool event_idx_;
  const bool indirect_;
  std::atomic<uint64_t> serves_{0};
  std::vector<UniqueFd> peers_;  // fuzzer thread only: services' and programs' sockets

  Mutex mutex_;  // everything below
  bool live_ = false;
  std::vector<uint8_t> ram_;  // what the driver wrote
  uint16_t sizes_[3];
  std::optional<Virtqueue> queues_[3];
  std::map<uint16_t, Chain> pending_[3];
  std::vector<bool> in_use_[3];
  uint64_t next_[3];
  uint16_t used_seen_[3];
  bool broken_[3];
  std::map<vsock::ConnectionKey, KeyModel> keys_;
  uint64_t requests_ = 0;
  uint64_t packets_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t events_ = 0;
  uint64_t transport_resets_ = 0;
};

}  // namespace

void FuzzOneInput(FuzzedDataProvider& provider) {
  const std::shared_ptr<GuestMemory>& memory = ClearedGuestMemory(kMemorySize);
  Host& host = Host::Get();
  const uint8_t features = provider.ConsumeIntegralInRange<uint8_t>(0, 3);
  uint16_t sizes[3];
  sizes[0] = static_cast<uint16_t>(1u << provider.ConsumeIntegralInRange<uint8_t>(0, 8));
  sizes[1] = static_cast<uint16_t>(1u << provider.ConsumeIntegralInRange<uint8_t>(0, 8));
  sizes[2] = static_cast<uint16_t>(1u << provider.ConsumeIntegralInRange<uint8_t>(0, 4));

  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create("vsock-fuzz");
  FUZZ_CHECK(loop.ok(), loop.status().ToString());
  absl::StatusOr<std::unique_ptr<VsockDevice>> device =
      VsockDevice::Create(kGuestCid, host.uds, Limits());
  FUZZ_CHECK(device.ok(), device.status().ToString());
  auto harness = std::make_unique<Harness>(*memory, **device, **loop, features, sizes);
  Harness* raw = harness.get();
  const absl::Status attached =
      (*device)->AttachBackend(**loop, [raw](size_t queue) { raw->Serve(queue); });
  FUZZ_CHECK(attached.ok(), attached.ToString());
  harness->Activate();

  for (int i = 0; i < kMaxOperations && provider.remaining_bytes() > 0; ++i) {
    switch (provider.ConsumeIntegralInRange<uint8_t>(0, kLastOp)) {
      case kTxPacket:
        harness->TxPacket(provider);
        break;
      case kRxBuffers:
        harness->RxBuffers(provider);
        break;
      case kEventBuffers:
        harness->EventBuffers(provider);
        break;
      case kProcess:
        harness->Notify(provider.ConsumeIntegralInRange<uint8_t>(0, 2));
        break;
      case kWrongIndex:
        harness->WrongIndex(provider.ConsumeIntegralInRange<uint8_t>(3, 255));
        break;
      case kHostConnect:
        harness->HostConnect(provider);
        break;
      case kHostWrite: {
        const uint8_t which = provider.ConsumeIntegral<uint8_t>();
        const uint16_t length = provider.ConsumeIntegralInRange<uint16_t>(1, 8192);
        harness->HostWrite(which, length, provider.ConsumeIntegral<uint8_t>());
        break;
      }
      case kHostRead:
        harness->HostRead(provider.ConsumeIntegral<uint8_t>());
        break;
      case kHostClose: {
        const uint8_t which = provider.ConsumeIntegral<uint8_t>();
        harness->HostClose(which, provider.ConsumeBool());
        break;
      }
      case kReset:
        harness->DriverReset();
        break;
      case kTransportReset:
        harness->TransportReset();
        break;
      case kBreakRing: {
        const uint8_t queue = provider.ConsumeIntegralInRange<uint8_t>(0, 2);
        harness->BreakRing(queue, provider.ConsumeIntegral<uint8_t>());
        break;
      }
    }
  }
  harness->Notify(VsockDevice::kTxQueue);
  harness->Notify(VsockDevice::kRxQueue);
  harness->Notify(VsockDevice::kEventQueue);
  // As in the daemon: the loop stops before the device goes.
  (*loop)->Stop();
  harness.reset();
  device->reset();
}

}  // namespace vmmd::fuzz

#endif  // VMMD_VSOCK_FUZZER_SEED_GEN
