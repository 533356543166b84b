// MmioTransport: the virtio-mmio transport (virtio 1.2 section 4.2.2, version 2 registers) in
// front of one VirtioDevice, on the MMIO bus at a window from the resource allocator.
//
// It owns what every virtio device shares: the registers, feature negotiation (a driver that
// does not accept VIRTIO_F_VERSION_1, or accepts bits never offered, does not get
// FEATURES_OK), the device status state machine and reset, the config generation, the
// interrupt status and its acknowledgement, and the virtqueues.
//
// Notifications: one EventFd per queue (queue_notifier). The machine registers each with KVM
// as an ioeventfd on QueueNotify with the queue's index as datamatch, so the guest's kick
// never leaves the kernel, and watches it on the VM's event loop, which calls ProcessQueue. A
// QueueNotify write that does reach us (no ioeventfd) only signals the same EventFd: queue
// work never runs on a vCPU thread. Interrupts go out through an InterruptLine (an irqfd).
//
// Threads: Read and Write come from vCPU threads, ProcessQueue from the event loop; one mutex
// orders them. InterruptStatus and InterruptACK, which the guest touches on every interrupt,
// and the configuration space do not take it, so a vCPU never waits for a device's I/O.
#ifndef VMMD_DEVICES_VIRTIO_MMIO_TRANSPORT_H_
#define VMMD_DEVICES_VIRTIO_MMIO_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/event_fd.h"
#include "base/mutex.h"
#include "devices/mmio_device.h"
#include "devices/port_io_device.h"
#include "devices/virtio/virtio_device.h"
#include "devices/virtio/virtqueue.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {

// Register offsets (spec 4.2.2, "MMIO Device Register Layout").
namespace mmio {
inline constexpr uint64_t kMagicValue = 0x000;
inline constexpr uint64_t kVersion = 0x004;
inline constexpr uint64_t kDeviceId = 0x008;
inline constexpr uint64_t kVendorId = 0x00c;
inline constexpr uint64_t kDeviceFeatures = 0x010;
inline constexpr uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020;
inline constexpr uint64_t kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030;
inline constexpr uint64_t kQueueNumMax = 0x034;
inline constexpr uint64_t kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044;
inline constexpr uint64_t kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060;
inline constexpr uint64_t kInterruptAck = 0x064;
inline constexpr uint64_t kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDescHigh = 0x084;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDriverHigh = 0x094;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr uint64_t kShmSel = 0x0ac;
inline constexpr uint64_t kShmLenLow = 0x0b0;
inline constexpr uint64_t kShmLenHigh = 0x0b4;
inline constexpr uint64_t kShmBaseLow = 0x0b8;
inline constexpr uint64_t kShmBaseHigh = 0x0bc;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;

inline constexpr uint32_t kMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kVersion2 = 2;        // virtio 1.x (1 is the legacy interface)
inline constexpr uint32_t kVendor = 0x444d4d56;  // "VMMD"

// What a device needs of its window: the registers and a configuration space.
inline constexpr uint64_t kWindowSize = 0x200;
}  // namespace mmio

// Device status bits (spec 2.1).
namespace status {
inline constexpr uint32_t kAcknowledge = 1;
inline constexpr uint32_t kDriver = 2;
inline constexpr uint32_t kDriverOk = 4;
inline constexpr uint32_t kFeaturesOk = 8;
inline constexpr uint32_t kNeedsReset = 64;
inline constexpr uint32_t kFailed = 128;
}  // namespace status

// InterruptStatus bits (spec 4.2.2).
inline constexpr uint32_t kInterruptUsedBuffer = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;

// Everything the transport is, as a plain value (the snapshot issue saves it).
struct MmioTransportState {
  uint32_t status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint64_t driver_features = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  std::vector<VirtqueueState> queues;
};

// Accesses the transport refused, for GetVm and for tests.
struct MmioTransportCounters {
  uint64_t notifications = 0;        // queue notifications served by ProcessQueue
  uint64_t interrupts = 0;           // used-buffer and config-change interrupts raised
  uint64_t refused_accesses = 0;     // wrong width or alignment, unknown or read-only register
  uint64_t refused_transitions = 0;  // status writes out of the spec's order, bad features
  uint64_t needs_reset = 0;          // times the driver broke a queue (DEVICE_NEEDS_RESET)
};

class MmioTransport : public MmioDevice {
 public:
  // A transport for `device` over `memory`, raising `interrupt` (which must outlive it).
  // `withheld_features` are never offered, whatever the device offers (the daemon's
  // --virtio_ring_features=false withholds event-idx and indirect descriptors, to measure
  // what they buy). INVALID_ARGUMENT if the device's queue sizes are not valid virtqueue
  // maxima; RESOURCE_EXHAUSTED (and the like) when an eventfd cannot be made.
  static absl::StatusOr<std::unique_ptr<MmioTransport>> Create(
      std::unique_ptr<VirtioDevice> device, std::shared_ptr<GuestMemory> memory,
      InterruptLine* interrupt, uint64_t withheld_features = 0);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Serves queue `index` if the driver has made the device live (DRIVER_OK) and the queue
  // ready; on the event loop, after its notifier fired. A broken ring sets
  // DEVICE_NEEDS_RESET and tells the driver with a configuration change interrupt.
  void ProcessQueue(size_t index);
  // Lets the device's backend wake it on `loop` (VirtioDevice::AttachBackend): its handlers
  // serve queues through ProcessQueue. Once, before the guest runs; the transport must stay
  // where it is while the loop runs.
  absl::Status AttachBackend(EventLoop& loop);

  size_t queue_count() const { return notifiers_.size(); }
  // The EventFd a notification of queue `index` signals (KVM ioeventfd, or our Write).
  const EventFd& queue_notifier(size_t index) const { return notifiers_[index]; }

  const VirtioDevice& device() const { return *device_; }
  // For restoring the device's own state from a snapshot, on the device loop.
  VirtioDevice& device() { return *device_; }
  // The state to save: every queue's as it is, except that chains the device holds (popped,
  // not yet used: a net device's receive buffers, or a packet waiting for its tap) are given
  // back, next_avail set to next_used, so that a transport restored from it pops them again.
  // Devices use their chains in the order they popped them, so the ones held are the last
  // popped; and the driver cannot reuse their avail-ring slots while they are unused.
  MmioTransportState state() const;
  // Puts back what state() read (of this transport or one in front of the same kind of
  // device), queues included; a live device is activated with the restored features.
  // INVALID_ARGUMENT, naming the field, when the queue count differs from the device's, a
  // queue's state is refused by Virtqueue::Restore, or the status or interrupt bits are not
  // ones the transport sets.
  absl::Status Restore(const MmioTransportState& state);
  MmioTransportCounters counters() const;

 private:
  MmioTransport(std::unique_ptr<VirtioDevice> device, std::shared_ptr<GuestMemory> memory,
                InterruptLine* interrupt, uint64_t withheld_features, std::vector<Virtqueue> queues,
                std::vector<EventFd> notifiers);

  uint32_t ReadRegister(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void WriteRegister(uint64_t offset, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void WriteStatus(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // A write to a queue's configuration: only between FEATURES_OK and DRIVER_OK, to a queue
  // that is not ready (spec 4.2.3.2).
  void ConfigureQueue(uint64_t offset, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Reset() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RaiseInterrupt(uint32_t bits);
  Virtqueue* SelectedQueue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  uint64_t OfferedFeatures() const {
    return (device_->offered_features() & ~withheld_features_) | kFeatureVersion1;
  }

  const std::unique_ptr<VirtioDevice> device_;
  const std::shared_ptr<GuestMemory> memory_;
  InterruptLine* const interrupt_;
  const uint64_t withheld_features_;
  const std::vector<EventFd> notifiers_;

  mutable Mutex mutex_;
  std::vector<Virtqueue> queues_ ABSL_GUARDED_BY(mutex_);
  uint32_t status_ ABSL_GUARDED_BY(mutex_) = 0;
  uint32_t device_features_sel_ ABSL_GUARDED_BY(mutex_) = 0;
  uint32_t driver_features_sel_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t driver_features_ ABSL_GUARDED_BY(mutex_) = 0;
  uint32_t queue_sel_ ABSL_GUARDED_BY(mutex_) = 0;
  std::atomic<uint32_t> interrupt_status_{0};
  std::atomic<uint32_t> config_generation_{0};

  std::atomic<uint64_t> notifications_{0};
  std::atomic<uint64_t> interrupts_{0};
  std::atomic<uint64_t> refused_accesses_{0};
  std::atomic<uint64_t> refused_transitions_{0};
  std::atomic<uint64_t> needs_reset_{0};
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_MMIO_TRANSPORT_H_
