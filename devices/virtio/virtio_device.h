// VirtioDevice: what a virtio device type (block, entropy, later net and vsock) tells its
// transport, and what the transport asks of it. The transport (mmio_transport.h) owns the
// registers, feature negotiation, the status state machine and the virtqueues; a device only
// offers features, answers its configuration space and serves its queues.
//
// Threads: ReadConfig and WriteConfig come from vCPU threads; Activate, ProcessQueue and Reset
// from the transport under its lock (ProcessQueue on the VM's event loop). A device guards
// whatever ReadConfig shares with the others.
#ifndef VMMD_DEVICES_VIRTIO_VIRTIO_DEVICE_H_
#define VMMD_DEVICES_VIRTIO_VIRTIO_DEVICE_H_

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "base/event_loop.h"
#include "devices/virtio/virtqueue.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {

// Device IDs (virtio 1.2 section 5, "Device Types").
inline constexpr uint32_t kDeviceIdNet = 1;
inline constexpr uint32_t kDeviceIdBlock = 2;
inline constexpr uint32_t kDeviceIdEntropy = 4;
inline constexpr uint32_t kDeviceIdVsock = 19;

// VIRTIO_F_VERSION_1 (spec 6): a modern device. The transport offers it for every device and
// refuses a driver that does not accept it (no legacy interface).
inline constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;

// What a device's queue work counts, reported per device in GetVm.
struct DeviceCounters {
  uint64_t requests = 0;       // chains served
  uint64_t bytes_read = 0;     // from the backend into the guest (blk reads, rng bytes, net RX)
  uint64_t bytes_written = 0;  // from the guest to the backend (blk writes, net TX)
  uint64_t errors = 0;         // requests answered with an error status, malformed chains
  // Packet devices (net, vsock): packets each way, and packets dropped (no guest buffers, a
  // full backend, a malformed or refused packet).
  uint64_t packets_received = 0;  // backend -> guest
  uint64_t packets_sent = 0;      // guest -> backend
  uint64_t drops = 0;
};

// DeviceCounters as a device counts them on its loop while GetVm reads them elsewhere:
// relaxed atomics (each a tally; no order between them is promised).
struct AtomicDeviceCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> packets_received{0};
  std::atomic<uint64_t> packets_sent{0};
  std::atomic<uint64_t> drops{0};

  static void Add(std::atomic<uint64_t>& counter, uint64_t amount = 1) {
    counter.fetch_add(amount, std::memory_order_relaxed);
  }
  DeviceCounters Load() const {
    DeviceCounters counters;
    counters.requests = requests.load(std::memory_order_relaxed);
    counters.bytes_read = bytes_read.load(std::memory_order_relaxed);
    counters.bytes_written = bytes_written.load(std::memory_order_relaxed);
    counters.errors = errors.load(std::memory_order_relaxed);
    counters.packets_received = packets_received.load(std::memory_order_relaxed);
    counters.packets_sent = packets_sent.load(std::memory_order_relaxed);
    counters.drops = drops.load(std::memory_order_relaxed);
    return counters;
  }
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint32_t device_id() const = 0;
  // The device-type feature bits it offers (bits 0-23, plus kFeatureIndirectDesc or
  // kFeatureEventIdx if it serves them); the transport adds kFeatureVersion1.
  virtual uint64_t offered_features() const = 0;
  // One entry per virtqueue: the most entries it may have (virtio-mmio QueueNumMax).
  virtual std::vector<uint16_t> queue_max_sizes() const = 0;

  // The device configuration space (virtio-mmio offset 0x100 onwards), `offset` into it.
  // Bytes beyond the space read as 0; writes to read-only fields are ignored.
  virtual void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const = 0;
  virtual void WriteConfig(uint64_t offset, absl::Span<const uint8_t> data) {}

  // The driver set DRIVER_OK with these features accepted: the device may start work.
  virtual void Activate(uint64_t negotiated_features) {}

  // Queue `index` was notified (or may have work): pop its chains, serve them and return them
  // through AddUsed. The transport interrupts the driver afterwards if the queue asks for it.
  // An error (the driver broke the ring, Virtqueue::Pop's INVALID_ARGUMENT) puts the device
  // into DEVICE_NEEDS_RESET; a request the device refuses is answered in its status byte
  // instead, and is not an error here.
  virtual absl::Status ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) = 0;

  // The driver reset the device (status 0): back to the state before negotiation.
  // Called on a vCPU thread under the transport's lock, whose seccomp filter allows no
  // syscall on the device's own fds: reset plain state here, and let the loop's handlers
  // close or drain backends when they next run.
  virtual void Reset() {}

  // A device whose backend wakes it by itself (a tap with frames to receive, vsock's Unix
  // sockets): called once before the guest runs, with the VM's device loop and `serve_queue`,
  // which serves queue `index` through the transport exactly as a notification does (lock,
  // ProcessQueue, interrupt). The device adds its fds to `loop`; their handlers run on the
  // loop thread and call `serve_queue`. Remove an fd (from a handler) before closing it. The
  // loop is stopped before the device is destroyed, so a destructor just closes its fds.
  virtual absl::Status AttachBackend(EventLoop& loop, std::function<void(size_t index)> serve_queue) {
    return absl::OkStatus();
  }

  virtual DeviceCounters counters() const = 0;
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_VIRTIO_DEVICE_H_
