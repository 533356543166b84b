// VsockHarness: a VsockDevice on a real EventLoop with its three queues in fake guest
// memory, served the way MmioTransport serves them (one lock around ProcessQueue, the
// device's `serve_queue` and "notifications" both run it on the loop thread), and the
// guest's driver on the test thread: RX buffers posted and re-posted, TX packets laid out as
// descriptor chains, event buffers, and the packets the device returned, parsed.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_VSOCK_TEST_HARNESS_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_VSOCK_TEST_HARNESS_H_

#include <linux/virtio_vsock.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/event_loop.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "devices/virtio/virtqueue.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "devices/virtio/vsock/packet.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio::vsock::testing {

inline constexpr uint64_t kGuestCid = 3;
// What the test guest advertises as its receive buffer unless a test says otherwise.
inline constexpr uint32_t kGuestBufAlloc = 256 * 1024;

// Guest memory: the three queues' rings, then RX buffers, TX slots and event buffers.
struct QueueLayout {
  GuestAddress descriptors;
  GuestAddress available;
  GuestAddress used;
  uint16_t size;
};
inline constexpr QueueLayout kRxLayout{GuestAddress(0x10000), GuestAddress(0x11000),
                                       GuestAddress(0x12000), 256};
inline constexpr QueueLayout kTxLayout{GuestAddress(0x20000), GuestAddress(0x21000),
                                       GuestAddress(0x22000), 256};
inline constexpr QueueLayout kEventLayout{GuestAddress(0x30000), GuestAddress(0x30400),
                                          GuestAddress(0x30800), 16};
inline constexpr uint64_t kRxBuffers = 0x100000;
inline constexpr uint64_t kTxSlots = 0x400000;
inline constexpr uint64_t kTxSlotSize = 0x11000;  // a header and 64 KiB, rounded up
inline constexpr uint16_t kTxSlotCount = 32;      // two descriptors each
inline constexpr uint64_t kEventBuffers = 0x700000;
inline constexpr uint64_t kHarnessMemory = 8 << 20;

// A packet the device gave the guest: its used length, and if it held a header, the header
// and payload.
struct Packet {
  // First, so that its 64-bit fields are aligned (the UAPI struct is packed): tests bind
  // references to them.
  virtio_vsock_hdr header{};
  uint32_t used_len = 0;
  std::string data;

  uint16_t op() const { return header.op; }
};

// A guest header from src_port to the host's dst_port, STREAM, from kGuestCid to CID 2.
inline virtio_vsock_hdr GuestHeader(uint16_t op, uint32_t src_port, uint32_t dst_port,
                                    uint32_t len = 0, uint32_t buf_alloc = kGuestBufAlloc,
                                    uint32_t fwd_cnt = 0, uint32_t flags = 0) {
  virtio_vsock_hdr header;
  std::memset(&header, 0, sizeof(header));
  header.src_cid = kGuestCid;
  header.dst_cid = kHostCid;
  header.src_port = src_port;
  header.dst_port = dst_port;
  header.len = len;
  header.type = VIRTIO_VSOCK_TYPE_STREAM;
  header.op = op;
  header.flags = flags;
  header.buf_alloc = buf_alloc;
  header.fwd_cnt = fwd_cnt;
  return header;
}

// A one-shot flag a thread waits for (vmmd::Mutex, which TSan sees, unlike absl's).
class Flag {
 public:
  void Set() {
    MutexLock lock(&mutex_);
    set_ = true;
  }
  void Wait() {
    MutexLock lock(&mutex_);
    auto set = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return set_; };
    mutex_.Await(absl::Condition(&set));
  }

 private:
  Mutex mutex_;
  bool set_ ABSL_GUARDED_BY(mutex_) = false;
};

// Polls `done` every millisecond until it holds or `timeout` passes; whether it held.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class VsockHarness {
 public:
  struct Options {
    VsockLimits limits;
    uint64_t features = 0;  // kFeatureEventIdx, kFeatureIndirectDesc
    uint16_t rx_buffers = 64;
    uint32_t rx_buffer_size = kHeaderSize + 4096;
    uint16_t event_buffers = 4;
  };

  static std::unique_ptr<VsockHarness> Create(const std::string& uds_path, Options options) {
    std::unique_ptr<VsockHarness> harness(new VsockHarness(options));
    absl::StatusOr<GuestMemory> memory = GuestMemory::Create(kHarnessMemory);
    EXPECT_TRUE(memory.ok()) << memory.status();
    if (!memory.ok()) return nullptr;
    {
      MutexLock lock(&harness->mutex_);
      harness->memory_.emplace(*std::move(memory));
    }
    absl::StatusOr<std::unique_ptr<VsockDevice>> device =
        VsockDevice::Create(kGuestCid, uds_path, options.limits);
    EXPECT_TRUE(device.ok()) << device.status();
    if (!device.ok()) return nullptr;
    harness->device_ = *std::move(device);
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create("vsock-test");
    EXPECT_TRUE(loop.ok()) << loop.status();
    if (!loop.ok()) return nullptr;
    harness->loop_ = *std::move(loop);
    {
      MutexLock lock(&harness->mutex_);
      harness->SetUpQueuesLocked();
    }
    VsockHarness* raw = harness.get();
    absl::Status attached =
        harness->device_->AttachBackend(*harness->loop_, [raw](size_t index) { raw->Serve(index); });
    EXPECT_TRUE(attached.ok()) << attached;
    harness->Activate();
    return harness;
  }

  ~VsockHarness() {
    // As the machine does: the loop stops (and joins) before the device goes.
    if (loop_ != nullptr) loop_->Stop();
  }

  VsockDevice& device() { return *device_; }
  EventLoop& loop() { return *loop_; }

  // --- The transport's side.

  // ProcessQueue under the lock, if the device is live; what the transport does for a
  // notification and for the device's serve_queue.
  void Serve(size_t index) {
    if (index < kicks_.size()) kicks_[index].store(false);
    MutexLock lock(&mutex_);
    if (!live_) return;
    absl::Status status = device_->ProcessQueue(index, queues_[index], *memory_);
    if (!status.ok()) {
      failures_.push_back(status);
      live_ = false;  // DEVICE_NEEDS_RESET
    }
  }
  // A guest notification of queue `index`: served on the loop thread (an ioeventfd would
  // wake the loop). Coalesced while one is pending, as an eventfd counter is.
  void Kick(size_t index) {
    if (kicks_[index].exchange(true)) return;
    absl::Status posted = loop_->Post([this, index] { Serve(index); });
    EXPECT_TRUE(posted.ok()) << posted;
  }
  // DRIVER_OK: Device::Activate under the lock (on this, the "vCPU", thread), then every
  // queue kicked.
  void Activate() {
    {
      MutexLock lock(&mutex_);
      device_->Activate(options_.features);
      live_ = true;
    }
    for (size_t i = 0; i < 3; ++i) Kick(i);
  }
  // The driver writes status 0: Device::Reset under the lock, on this (the "vCPU") thread,
  // queues reset; the rings are set up again and buffers posted, not yet live.
  void ResetDevice() {
    MutexLock lock(&mutex_);
    device_->Reset();
    live_ = false;
    SetUpQueuesLocked();
  }
  // Runs `task` on the loop thread and waits for it.
  void RunOnLoop(std::function<void()> task) {
    Flag done;
    absl::Status posted = loop_->Post([&task, &done] {
      task();
      done.Set();
    });
    ASSERT_TRUE(posted.ok()) << posted;
    done.Wait();
  }
  std::vector<absl::Status> failures() {
    MutexLock lock(&mutex_);
    return failures_;
  }

  // --- The guest's driver (test thread).

  // Sends one TX packet: the header and payload in one descriptor, or (split) the header in
  // one and the payload in another. Waits for a free TX slot.
  void Send(const virtio_vsock_hdr& header, absl::string_view payload = {}, bool split = false) {
    std::vector<uint8_t> bytes(sizeof(header) + payload.size());
    std::memcpy(bytes.data(), &header, sizeof(header));
    if (!payload.empty()) {
      std::memcpy(bytes.data() + sizeof(header), payload.data(), payload.size());
    }
    SendBytes(bytes, split && !payload.empty() ? sizeof(header) : 0);
  }
  // Raw bytes as one TX chain; with `cut` > 0, in two descriptors split there.
  void SendBytes(const std::vector<uint8_t>& bytes, size_t cut = 0) {
    ASSERT_LE(bytes.size(), kTxSlotSize);
    uint16_t slot = 0;
    ASSERT_TRUE(WaitUntil([&] {
      MutexLock lock(&mutex_);
      ReclaimTxLocked();
      for (uint16_t i = 0; i < kTxSlotCount; ++i) {
        if (!tx_busy_[i]) {
          slot = i;
          return true;
        }
      }
      return false;
    })) << "no TX slot came back";
    {
      MutexLock lock(&mutex_);
      const uint64_t address = kTxSlots + slot * kTxSlotSize;
      ExpectOk(memory_->WriteBytes(GuestAddress(address), bytes));
      const uint16_t head = static_cast<uint16_t>(2 * slot);
      if (cut == 0 || cut >= bytes.size()) {
        tx_driver_->SetDescriptor(head, address, static_cast<uint32_t>(bytes.size()));
      } else {
        tx_driver_->SetDescriptor(head, address, static_cast<uint32_t>(cut), VRING_DESC_F_NEXT,
                                  static_cast<uint16_t>(head + 1));
        tx_driver_->SetDescriptor(static_cast<uint16_t>(head + 1), address + cut,
                                  static_cast<uint32_t>(bytes.size() - cut));
      }
      tx_busy_[slot] = true;
      tx_driver_->MakeAvailable(head);
    }
    Kick(VsockDevice::kTxQueue);
  }
  // TX chains the guest has made available so far.
  uint16_t TxSent() {
    MutexLock lock(&mutex_);
    return tx_driver_->avail_idx();
  }
  // TX chains the device has returned so far.
  uint16_t TxUsed() {
    MutexLock lock(&mutex_);
    return tx_driver_->UsedIdx();
  }

  // Packets the device placed in RX buffers since the last call; their buffers are posted
  // again and the RX queue kicked.
  std::vector<Packet> Receive() {
    std::vector<Packet> packets;
    {
      MutexLock lock(&mutex_);
      const uint16_t used = rx_driver_->UsedIdx();
      while (rx_seen_ != used) {
        const vring_used_elem element = rx_driver_->UsedElement(rx_seen_ % kRxLayout.size);
        ++rx_seen_;
        Packet packet;
        packet.used_len = element.len;
        EXPECT_LT(element.id, options_.rx_buffers);
        const uint64_t address = RxBufferAddress(static_cast<uint16_t>(element.id));
        const uint32_t length = std::min(element.len, RxBufferSizeLocked(element.id));
        EXPECT_EQ(element.len, length) << "used length beyond the buffer";
        if (length >= kHeaderSize) {
          ExpectOk(memory_->ReadBytes(
              GuestAddress(address),
              absl::MakeSpan(reinterpret_cast<uint8_t*>(&packet.header), kHeaderSize)));
          packet.data.resize(length - kHeaderSize);
          ExpectOk(memory_->ReadBytes(
              GuestAddress(address + kHeaderSize),
              absl::MakeSpan(reinterpret_cast<uint8_t*>(packet.data.data()), packet.data.size())));
          EXPECT_EQ(packet.header.len, packet.data.size()) << "used length is not 44 + len";
        }
        packets.push_back(std::move(packet));
        // Back to the device, at its full size.
        rx_sizes_[element.id] = options_.rx_buffer_size;
        rx_driver_->SetDescriptor(static_cast<uint16_t>(element.id), address,
                                  options_.rx_buffer_size, VRING_DESC_F_WRITE);
        rx_driver_->MakeAvailable(static_cast<uint16_t>(element.id));
      }
    }
    if (!packets.empty()) Kick(VsockDevice::kRxQueue);
    return packets;
  }
  // Receives until `want` packets came (or `timeout`), returning all received.
  std::vector<Packet> ReceiveAtLeast(size_t want,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::vector<Packet> all;
    WaitUntil(
        [&] {
          for (Packet& p : Receive()) all.push_back(std::move(p));
          return all.size() >= want;
        },
        timeout);
    return all;
  }
  // Receives until a packet with `op` for guest port `guest_port` comes; other packets are
  // appended to `others` if given.
  std::optional<Packet> ReceiveOp(uint16_t op, uint32_t guest_port,
                                  std::vector<Packet>* others = nullptr,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::optional<Packet> found;
    WaitUntil(
        [&] {
          for (Packet& p : Receive()) {
            if (!found && p.op() == op && p.header.dst_port == guest_port) {
              found = std::move(p);
            } else if (others != nullptr) {
              others->push_back(std::move(p));
            }
          }
          return found.has_value();
        },
        timeout);
    return found;
  }

  // Replaces the next RX buffer the device will take (the first posted, not yet used) with
  // one of `size` bytes. Only before the device used any.
  void ShrinkFirstRxBuffer(uint32_t size) {
    MutexLock lock(&mutex_);
    rx_sizes_[0] = size;
    rx_driver_->SetDescriptor(0, RxBufferAddress(0), size, VRING_DESC_F_WRITE);
  }

  // Event queue: the event ids the device wrote since the last call, buffers re-posted.
  std::vector<uint32_t> ReceiveEvents() {
    std::vector<uint32_t> events;
    MutexLock lock(&mutex_);
    const uint16_t used = event_driver_->UsedIdx();
    while (event_seen_ != used) {
      const vring_used_elem element = event_driver_->UsedElement(event_seen_ % kEventLayout.size);
      ++event_seen_;
      EXPECT_EQ(element.len, 4u);
      absl::StatusOr<uint32_t> id = memory_->Read<uint32_t>(GuestAddress(kEventBuffers + 8 * element.id));
      EXPECT_TRUE(id.ok());
      events.push_back(id.value_or(0xffffffff));
      event_driver_->MakeAvailable(static_cast<uint16_t>(element.id));
    }
    return events;
  }
  // Posts event buffers (the harness posts options.event_buffers at activation).
  void PostEventBuffers(uint16_t count) {
    {
      MutexLock lock(&mutex_);
      for (uint16_t i = 0; i < count; ++i) {
        event_driver_->SetDescriptor(i, kEventBuffers + 8 * i, 4, VRING_DESC_F_WRITE);
        event_driver_->MakeAvailable(i);
      }
    }
    Kick(VsockDevice::kEventQueue);
  }

  // Breaks the TX ring: avail->idx runs more than the queue size ahead.
  void BreakTxRing() {
    {
      MutexLock lock(&mutex_);
      tx_driver_->SetAvailIdx(static_cast<uint16_t>(tx_driver_->avail_idx() + 1000));
    }
    Kick(VsockDevice::kTxQueue);
  }

 private:
  explicit VsockHarness(Options options) : options_(options) {}

  uint64_t RxBufferAddress(uint16_t index) const {
    return kRxBuffers + uint64_t{index} * options_.rx_buffer_size;
  }
  uint32_t RxBufferSizeLocked(uint32_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return id < rx_sizes_.size() ? rx_sizes_[id] : 0;
  }

  void ReclaimTxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    const uint16_t used = tx_driver_->UsedIdx();
    while (tx_seen_ != used) {
      const vring_used_elem element = tx_driver_->UsedElement(tx_seen_ % kTxLayout.size);
      ++tx_seen_;
      EXPECT_EQ(element.len, 0u) << "TX buffers are device-readable: nothing written";
      if (element.id / 2 < kTxSlotCount) tx_busy_[element.id / 2] = false;
    }
  }

  // Zeroed rings, queues configured and ready, RX and event buffers posted.
  void SetUpQueuesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    queues_.clear();
    const QueueLayout layouts[3] = {kRxLayout, kTxLayout, kEventLayout};
    const uint16_t max_sizes[3] = {VsockDevice::kRxQueueSize, VsockDevice::kTxQueueSize,
                                   VsockDevice::kEventQueueSize};
    for (int i = 0; i < 3; ++i) {
      const QueueLayout& layout = layouts[i];
      ExpectOk(memory_->Fill(layout.descriptors, 0, 16 * layout.size));
      ExpectOk(memory_->Fill(layout.available, 0, 6 + 2 * layout.size));
      ExpectOk(memory_->Fill(layout.used, 0, 6 + 8 * layout.size));
      absl::StatusOr<Virtqueue> queue = Virtqueue::Create(max_sizes[i]);
      EXPECT_TRUE(queue.ok());
      ExpectOk(queue->SetSize(layout.size));
      ExpectOk(queue->SetDescriptorTable(layout.descriptors));
      ExpectOk(queue->SetAvailableRing(layout.available));
      ExpectOk(queue->SetUsedRing(layout.used));
      ExpectOk(queue->SetFeatures(options_.features));
      ExpectOk(queue->SetReady(*memory_));
      queues_.push_back(*std::move(queue));
    }
    rx_driver_.emplace(*memory_, kRxLayout.size, kRxLayout.descriptors, kRxLayout.available,
                       kRxLayout.used);
    tx_driver_.emplace(*memory_, kTxLayout.size, kTxLayout.descriptors, kTxLayout.available,
                       kTxLayout.used);
    event_driver_.emplace(*memory_, kEventLayout.size, kEventLayout.descriptors,
                          kEventLayout.available, kEventLayout.used);
    rx_seen_ = tx_seen_ = event_seen_ = 0;
    tx_busy_.fill(false);
    rx_sizes_.assign(options_.rx_buffers, options_.rx_buffer_size);
    for (uint16_t i = 0; i < options_.rx_buffers; ++i) {
      rx_driver_->SetDescriptor(i, RxBufferAddress(i), options_.rx_buffer_size,
                                VRING_DESC_F_WRITE);
      rx_driver_->MakeAvailable(i);
    }
    for (uint16_t i = 0; i < options_.event_buffers; ++i) {
      event_driver_->SetDescriptor(i, kEventBuffers + 8 * i, 4, VRING_DESC_F_WRITE);
      event_driver_->MakeAvailable(i);
    }
  }

  static void ExpectOk(const absl::Status& status) { EXPECT_TRUE(status.ok()) << status; }

  const Options options_;
  std::unique_ptr<VsockDevice> device_;
  std::unique_ptr<EventLoop> loop_;
  std::array<std::atomic<bool>, 3> kicks_{};

  Mutex mutex_;  // the transport's lock, and the guest's view of its memory
  std::optional<GuestMemory> memory_ ABSL_GUARDED_BY(mutex_);
  std::vector<Virtqueue> queues_ ABSL_GUARDED_BY(mutex_);
  bool live_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(mutex_);
  std::optional<::vmmd::virtio::testing::TestDriver> rx_driver_ ABSL_GUARDED_BY(mutex_);
  std::optional<::vmmd::virtio::testing::TestDriver> tx_driver_ ABSL_GUARDED_BY(mutex_);
  std::optional<::vmmd::virtio::testing::TestDriver> event_driver_ ABSL_GUARDED_BY(mutex_);
  uint16_t rx_seen_ ABSL_GUARDED_BY(mutex_) = 0;
  uint16_t tx_seen_ ABSL_GUARDED_BY(mutex_) = 0;
  uint16_t event_seen_ ABSL_GUARDED_BY(mutex_) = 0;
  std::array<bool, kTxSlotCount> tx_busy_ ABSL_GUARDED_BY(mutex_){};
  std::vector<uint32_t> rx_sizes_ ABSL_GUARDED_BY(mutex_);
};

// --- The host's side.

// A blocking Unix stream connection to `path`.
inline UniqueFd ConnectTo(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const int result =
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  EXPECT_EQ(result, 0) << "connect(" << path << "): " << std::strerror(errno);
  return fd;
}

inline void WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t done = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (done < 0 && errno == EINTR) continue;
    ASSERT_GT(done, 0) << std::strerror(errno);
    bytes.remove_prefix(static_cast<size_t>(done));
  }
}

// Whether `fd` becomes readable (data or EOF) within `timeout`.
inline bool Readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// Reads `length` bytes, or what came before EOF or `timeout`.
inline std::string ReadBytes(int fd, size_t length,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (out.size() < length) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !Readable(fd, left)) break;
    char buffer[65536];
    const ssize_t got = ::recv(fd, buffer, std::min(sizeof(buffer), length - out.size()), 0);
    if (got <= 0) break;
    out.append(buffer, static_cast<size_t>(got));
  }
  return out;
}

// Reads one line (up to and including "\n").
inline std::string ReadLine(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::string line;
  while (line.empty() || line.back() != '\n') {
    std::string byte = ReadBytes(fd, 1, timeout);
    if (byte.empty()) break;
    line += byte;
  }
  return line;
}

// Whether the peer closed: EOF (or a reset) within `timeout`, with no data before it.
inline bool SeesEof(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  if (!Readable(fd, timeout)) return false;
  char byte;
  const ssize_t got = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  return got == 0 || (got < 0 && errno == ECONNRESET);
}

}  // namespace vmmd::virtio::vsock::testing

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_VSOCK_TEST_HARNESS_H_
