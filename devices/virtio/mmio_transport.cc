#include "devices/virtio/mmio_transport.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace vmmd::virtio {
namespace {

uint32_t Low(uint64_t value) { return static_cast<uint32_t>(value); }
uint32_t High(uint64_t value) { return static_cast<uint32_t>(value >> 32); }
uint64_t WithLow(uint64_t value, uint32_t low) { return (value & ~uint64_t{0xffffffff}) | low; }
uint64_t WithHigh(uint64_t value, uint32_t high) {
  return (value & uint64_t{0xffffffff}) | (uint64_t{high} << 32);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MmioTransport>> MmioTransport::Create(
    std::unique_ptr<VirtioDevice> device, std::shared_ptr<GuestMemory> memory,
    InterruptLine* interrupt, uint64_t withheld_features) {
  std::vector<Virtqueue> queues;
  std::vector<EventFd> notifiers;
  for (uint16_t max_size : device->queue_max_sizes()) {
    ASSIGN_OR_RETURN(Virtqueue queue, Virtqueue::Create(max_size));
    ASSIGN_OR_RETURN(EventFd notifier, EventFd::Create());
    queues.push_back(std::move(queue));
    notifiers.push_back(std::move(notifier));
  }
  return std::unique_ptr<MmioTransport>(new MmioTransport(
      std::move(device), std::move(memory), interrupt, withheld_features, std::move(queues),
      std::move(notifiers)));
}

MmioTransport::MmioTransport(std::unique_ptr<VirtioDevice> device,
                             std::shared_ptr<GuestMemory> memory, InterruptLine* interrupt,
                             uint64_t withheld_features, std::vector<Virtqueue> queues,
                             std::vector<EventFd> notifiers)
    : device_(std::move(device)),
      memory_(std::move(memory)),
      interrupt_(interrupt),
      withheld_features_(withheld_features),
      notifiers_(std::move(notifiers)),
      queues_(std::move(queues)) {}

void MmioTransport::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (offset >= mmio::kConfig) {
    device_->ReadConfig(offset - mmio::kConfig, data);
    return;
  }
  // "The driver MUST only use 32 bit wide and aligned reads and writes to access the control
  // registers" (4.2.2.2); anything else reads as zero.
  std::memset(data.data(), 0, data.size());
  if (data.size() != 4 || offset % 4 != 0) {
    refused_accesses_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint32_t value;
  if (offset == mmio::kInterruptStatus) {
    value = interrupt_status_.load();
  } else if (offset == mmio::kConfigGeneration) {
    value = config_generation_.load();
  } else {
    MutexLock lock(&mutex_);
    value = ReadRegister(offset);
  }
  std::memcpy(data.data(), &value, sizeof(value));  // x86 and virtio-mmio are little-endian
}

void MmioTransport::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (offset >= mmio::kConfig) {
    device_->WriteConfig(offset - mmio::kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    refused_accesses_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint32_t value;
  std::memcpy(&value, data.data(), sizeof(value));
  if (offset == mmio::kInterruptAck) {
    interrupt_status_.fetch_and(~value);
    return;
  }
  if (offset == mmio::kQueueNotify) {
    // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue's index (4.2.2). The work
    // happens on the event loop, as for a notification KVM's ioeventfd caught.
    if (value < notifiers_.size()) {
      notifiers_[value].Signal();
    } else {
      refused_accesses_.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  MutexLock lock(&mutex_);
  WriteRegister(offset, value);
}

uint32_t MmioTransport::ReadRegister(uint64_t offset) {
  switch (offset) {
    case mmio::kMagicValue:
      return mmio::kMagic;
    case mmio::kVersion:
      return mmio::kVersion2;
    case mmio::kDeviceId:
      return device_->device_id();
    case mmio::kVendorId:
      return mmio::kVendor;
    case mmio::kDeviceFeatures: {
      // Selectors beyond the 64 feature bits we have read as 0 (no features there).
      const uint64_t offered = OfferedFeatures();
      if (device_features_sel_ == 0) return Low(offered);
      if (device_features_sel_ == 1) return High(offered);
      return 0;
    }
    case mmio::kQueueNumMax: {
      Virtqueue* queue = SelectedQueue();
      return queue == nullptr ? 0 : queue->max_size();  // 0: "the queue is not available"
    }
    case mmio::kQueueReady: {
      Virtqueue* queue = SelectedQueue();
      return queue != nullptr && queue->ready() ? 1 : 0;
    }
    case mmio::kStatus:
      return status_;
    case mmio::kShmLenLow:
    case mmio::kShmLenHigh:
    case mmio::kShmBaseLow:
    case mmio::kShmBaseHigh:
      return 0xffffffff;  // no shared memory regions: "a length of -1" (4.2.2)
    default:
      refused_accesses_.fetch_add(1, std::memory_order_relaxed);  // write-only or unknown
      return 0;
  }
}

void MmioTransport::WriteRegister(uint64_t offset, uint32_t value) {
  switch (offset) {
    case mmio::kDeviceFeaturesSel:
      device_features_sel_ = value;
      return;
    case mmio::kDriverFeaturesSel:
      driver_features_sel_ = value;
      return;
    case mmio::kDriverFeatures:
      // Only while negotiating: after DRIVER, before FEATURES_OK (3.1.1).
      if ((status_ & status::kDriver) == 0 || (status_ & status::kFeaturesOk) != 0 ||
          driver_features_sel_ > 1) {
        refused_transitions_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      driver_features_ = driver_features_sel_ == 0 ? WithLow(driver_features_, value)
                                                   : WithHigh(driver_features_, value);
      return;
    case mmio::kQueueSel:
      queue_sel_ = value;
      return;
    case mmio::kStatus:
      WriteStatus(value);
      return;
    case mmio::kQueueNum:
    case mmio::kQueueReady:
    case mmio::kQueueDescLow:
    case mmio::kQueueDescHigh:
    case mmio::kQueueDriverLow:
    case mmio::kQueueDriverHigh:
    case mmio::kQueueDeviceLow:
    case mmio::kQueueDeviceHigh:
      ConfigureQueue(offset, value);
      return;
    case mmio::kShmSel:
      return;  // no regions to select
    default:
      refused_accesses_.fetch_add(1, std::memory_order_relaxed);  // read-only or unknown
  }
}

void MmioTransport::WriteStatus(uint32_t value) {
  if (value == 0) {
    Reset();
    return;
  }
  // The driver only adds bits (2.1.1), in the order of 3.1.1: ACKNOWLEDGE, DRIVER,
  // FEATURES_OK, DRIVER_OK; FAILED at any time. DEVICE_NEEDS_RESET is ours to set.
  const uint32_t added = value & ~status_;  // NEEDS_RESET among them: the driver may not set it
  // DEVICE_NEEDS_RESET is the device's: a driver may echo it (Linux's virtio_add_status reads,
  // ORs and writes back) or leave it out; either way the device keeps it.
  const uint32_t driver_bits = status_ & ~status::kNeedsReset;
  const bool keeps_bits = (value & driver_bits) == driver_bits;
  const uint32_t known = status::kAcknowledge | status::kDriver | status::kFeaturesOk |
                         status::kDriverOk | status::kFailed;
  bool in_order = keeps_bits && (added & ~known) == 0;
  if ((added & status::kDriver) && !(value & status::kAcknowledge)) in_order = false;
  if ((added & status::kFeaturesOk) && !(value & status::kDriver)) in_order = false;
  if ((added & status::kDriverOk) && !(value & status::kFeaturesOk)) in_order = false;
  if (!in_order) {
    refused_transitions_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (added & status::kFeaturesOk) {
    // Refused by leaving FEATURES_OK clear, which the driver reads back (3.1.1 step 6).
    const uint64_t offered = OfferedFeatures();
    if ((driver_features_ & ~offered) != 0 || (driver_features_ & kFeatureVersion1) == 0) {
      refused_transitions_.fetch_add(1, std::memory_order_relaxed);
      value &= ~status::kFeaturesOk;
      value &= ~status::kDriverOk;
    } else {
      for (Virtqueue& queue : queues_) (void)queue.SetFeatures(driver_features_);
    }
  }
  status_ = value | (status_ & status::kNeedsReset);
  if (added & status::kDriverOk & status_) {
    device_->Activate(driver_features_);
    // Buffers made available before DRIVER_OK are served now (the driver may have kicked
    // while the device was not live).
    for (const EventFd& notifier : notifiers_) notifier.Signal();
  }
}

void MmioTransport::ConfigureQueue(uint64_t offset, uint32_t value) {
  Virtqueue* queue = SelectedQueue();
  // QueueReady = 0 is how a driver takes a queue down (vm_del_vq), allowed at any time.
  if (queue != nullptr && offset == mmio::kQueueReady && value == 0) {
    queue->Reset();
    // Reset forgets the ring features; a queue set up again keeps what was negotiated.
    if ((status_ & status::kFeaturesOk) != 0) (void)queue->SetFeatures(driver_features_);
    return;
  }
  const bool negotiating =
      (status_ & status::kFeaturesOk) != 0 && (status_ & status::kDriverOk) == 0;
  if (queue == nullptr || !negotiating || queue->ready()) {
    refused_transitions_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const VirtqueueState& state = queue->state();
  absl::Status result;
  switch (offset) {
    case mmio::kQueueNum:
      // Checked against the maximum and power-of-two rule when the queue is made ready.
      result = value > 0xffff ? absl::InvalidArgumentError("QueueNum above 65535")
                              : queue->SetSize(static_cast<uint16_t>(value));
      break;
    case mmio::kQueueReady:
      result = queue->SetReady(*memory_);
      break;
    case mmio::kQueueDescLow:
      result = queue->SetDescriptorTable(GuestAddress(WithLow(state.descriptor_table.value(), value)));
      break;
    case mmio::kQueueDescHigh:
      result =
          queue->SetDescriptorTable(GuestAddress(WithHigh(state.descriptor_table.value(), value)));
      break;
    case mmio::kQueueDriverLow:
      result = queue->SetAvailableRing(GuestAddress(WithLow(state.available_ring.value(), value)));
      break;
    case mmio::kQueueDriverHigh:
      result = queue->SetAvailableRing(GuestAddress(WithHigh(state.available_ring.value(), value)));
      break;
    case mmio::kQueueDeviceLow:
      result = queue->SetUsedRing(GuestAddress(WithLow(state.used_ring.value(), value)));
      break;
    case mmio::kQueueDeviceHigh:
      result = queue->SetUsedRing(GuestAddress(WithHigh(state.used_ring.value(), value)));
      break;
  }
  // A queue configured against the spec stays not ready, which the driver reads back.
  if (!result.ok()) refused_transitions_.fetch_add(1, std::memory_order_relaxed);
}

void MmioTransport::Reset() {
  device_->Reset();
  for (Virtqueue& queue : queues_) queue.Reset();
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_ = 0;
}

void MmioTransport::ProcessQueue(size_t index) {
  uint32_t raise = 0;
  {
    MutexLock lock(&mutex_);
    if (index >= queues_.size()) return;
    Virtqueue& queue = queues_[index];
    if ((status_ & status::kDriverOk) == 0 || (status_ & status::kNeedsReset) != 0 ||
        !queue.ready()) {
      return;
    }
    notifications_.fetch_add(1, std::memory_order_relaxed);
    absl::Status served = device_->ProcessQueue(index, queue, *memory_);
    if (!served.ok()) {
      // The driver broke the ring: stop using the device until it resets it, and say so
      // with a configuration change notification (2.1.2).
      status_ |= status::kNeedsReset;
      needs_reset_.fetch_add(1, std::memory_order_relaxed);
      raise = kInterruptConfigChange;
    } else {
      absl::StatusOr<bool> wanted = queue.NeedsInterrupt(*memory_);
      if (wanted.ok() && *wanted) raise = kInterruptUsedBuffer;
    }
  }
  if (raise != 0) RaiseInterrupt(raise);
}

absl::Status MmioTransport::AttachBackend(EventLoop& loop) {
  return device_->AttachBackend(loop, [this](size_t index) { ProcessQueue(index); });
}

void MmioTransport::RaiseInterrupt(uint32_t bits) {
  // A bit already set is an interrupt the driver has not acknowledged: its handler reads
  // the used rings after its InterruptACK, so it will see these buffers too, and another
  // edge would only run it once more for nothing (QEMU's virtio-mmio line is level, high
  // while any bit is set, to the same effect), e.g. when vsock's RX pass follows its TX pass
  // before the driver has acknowledged the first.
  const uint32_t before = interrupt_status_.fetch_or(bits);
  if ((before & bits) == bits) return;
  interrupts_.fetch_add(1, std::memory_order_relaxed);
  interrupt_->Trigger();
}

Virtqueue* MmioTransport::SelectedQueue() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

MmioTransportState MmioTransport::state() const {
  MutexLock lock(&mutex_);
  MmioTransportState state;
  state.status = status_;
  state.device_features_sel = device_features_sel_;
  state.driver_features_sel = driver_features_sel_;
  state.driver_features = driver_features_;
  state.queue_sel = queue_sel_;
  state.interrupt_status = interrupt_status_.load();
  state.config_generation = config_generation_.load();
  for (const Virtqueue& queue : queues_) {
    state.queues.push_back(queue.state());
    state.queues.back().next_avail = state.queues.back().next_used;
  }
  return state;
}

absl::Status MmioTransport::Restore(const MmioTransportState& state) {
  const uint32_t known = status::kAcknowledge | status::kDriver | status::kFeaturesOk |
                         status::kDriverOk | status::kNeedsReset | status::kFailed;
  if ((state.status & ~known) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("status 0x", absl::Hex(state.status),
                                                   " has bits the transport never sets"));
  }
  if ((state.interrupt_status & ~(kInterruptUsedBuffer | kInterruptConfigChange)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interrupt_status 0x", absl::Hex(state.interrupt_status), " has unknown bits"));
  }
  MutexLock lock(&mutex_);
  if (state.queues.size() != queues_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("queues: the state has ", state.queues.size(),
                                                   "; the device has ", queues_.size()));
  }
  std::vector<Virtqueue> queues;
  for (size_t i = 0; i < state.queues.size(); ++i) {
    absl::StatusOr<Virtqueue> queue =
        Virtqueue::Restore(queues_[i].max_size(), state.queues[i], *memory_);
    if (!queue.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("queues[", i, "]: ", queue.status().message()));
    }
    queues.push_back(std::move(*queue));
  }
  queues_ = std::move(queues);
  status_ = state.status;
  device_features_sel_ = state.device_features_sel;
  driver_features_sel_ = state.driver_features_sel;
  driver_features_ = state.driver_features;
  queue_sel_ = state.queue_sel;
  interrupt_status_ = state.interrupt_status;
  config_generation_ = state.config_generation;
  if ((status_ & status::kDriverOk) != 0) device_->Activate(driver_features_);
  return absl::OkStatus();
}

MmioTransportCounters MmioTransport::counters() const {
  MmioTransportCounters counters;
  counters.notifications = notifications_.load(std::memory_order_relaxed);
  counters.interrupts = interrupts_.load(std::memory_order_relaxed);
  counters.refused_accesses = refused_accesses_.load(std::memory_order_relaxed);
  counters.refused_transitions = refused_transitions_.load(std::memory_order_relaxed);
  counters.needs_reset = needs_reset_.load(std::memory_order_relaxed);
  return counters;
}

}  // namespace vmmd::virtio
