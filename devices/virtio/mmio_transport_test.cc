#include "devices/virtio/mmio_transport.h"

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/event_loop.h"
#include "base/status_macros.h"
#include "base/status_matchers.h"
#include "devices/fake_devices.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {
namespace {

using ::vmmd::testing::CountingInterrupt;
using testing::kAvailableRing;
using testing::kData;
using testing::kDescriptorTable;
using testing::kMemorySize;
using testing::kUsedRing;
using testing::TestDriver;

constexpr uint16_t kQueueSize = 8;
constexpr uint64_t kDeviceFeature = uint64_t{1} << 3;

// A device whose queue work is to write "ok" into each chain, and that records what the
// transport asked of it.
class EchoDevice : public VirtioDevice {
 public:
  struct Calls {
    int activations = 0;
    int resets = 0;
    uint64_t activated_with = 0;
    EventLoop* backend_loop = nullptr;
    std::function<void(size_t)> serve_queue;  // what AttachBackend handed over
    bool hold = false;  // pop chains and keep them, as a net device waiting for its tap does
  };
  explicit EchoDevice(Calls* calls) : calls_(calls) {}

  uint32_t device_id() const override { return kDeviceIdEntropy; }
  uint64_t offered_features() const override { return kDeviceFeature | kFeatureEventIdx; }
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xc0 + offset + i);
  }
  void Activate(uint64_t features) override {
    ++calls_->activations;
    calls_->activated_with = features;
  }
  void Reset() override { ++calls_->resets; }
  absl::Status AttachBackend(EventLoop& loop, std::function<void(size_t)> serve_queue) override {
    calls_->backend_loop = &loop;
    calls_->serve_queue = std::move(serve_queue);
    return absl::OkStatus();
  }
  absl::Status ProcessQueue(size_t, Virtqueue& queue, GuestMemory& memory) override {
    while (true) {
      ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
      if (!chain) return absl::OkStatus();
      if (calls_->hold) continue;
      const uint8_t ok[] = {'o', 'k'};
      RETURN_IF_ERROR(chain->WriteToWritable(memory, 0, ok));
      RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), sizeof(ok)));
      ++requests_;
    }
  }
  DeviceCounters counters() const override { return {requests_, 0, 0, 0}; }

 private:
  Calls* calls_;
  uint64_t requests_ = 0;
};

class MmioTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_ = std::make_shared<GuestMemory>(std::move(memory));
    driver_holder_.emplace(*memory_, kQueueSize);
    ASSERT_OK_AND_ASSIGN(transport_, MmioTransport::Create(std::make_unique<EchoDevice>(&calls_),
                                                           memory_, &interrupt_));
  }

  uint32_t ReadReg(uint64_t offset) {
    uint32_t value = 0;
    transport_->Read(offset, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), 4));
    return value;
  }
  void WriteReg(uint64_t offset, uint32_t value) {
    transport_->Write(offset, absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&value), 4));
  }

  // The driver's side of 3.1.1 up to FEATURES_OK, accepting `features`.
  void NegotiateFeatures(uint64_t features) {
    WriteReg(mmio::kStatus, status::kAcknowledge);
    WriteReg(mmio::kStatus, status::kAcknowledge | status::kDriver);
    WriteReg(mmio::kDriverFeaturesSel, 0);
    WriteReg(mmio::kDriverFeatures, static_cast<uint32_t>(features));
    WriteReg(mmio::kDriverFeaturesSel, 1);
    WriteReg(mmio::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    WriteReg(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
  }
  void SetUpQueue0(uint32_t size = kQueueSize) {
    WriteReg(mmio::kQueueSel, 0);
    WriteReg(mmio::kQueueNum, size);
    WriteReg(mmio::kQueueDescLow, static_cast<uint32_t>(kDescriptorTable.value()));
    WriteReg(mmio::kQueueDescHigh, 0);
    WriteReg(mmio::kQueueDriverLow, static_cast<uint32_t>(kAvailableRing.value()));
    WriteReg(mmio::kQueueDriverHigh, 0);
    WriteReg(mmio::kQueueDeviceLow, static_cast<uint32_t>(kUsedRing.value()));
    WriteReg(mmio::kQueueDeviceHigh, 0);
    WriteReg(mmio::kQueueReady, 1);
  }
  static constexpr uint32_t kLive =
      status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk;
  void MakeLive() {
    NegotiateFeatures(kFeatureVersion1 | kDeviceFeature);
    SetUpQueue0();
    WriteReg(mmio::kStatus, kLive);
    ASSERT_EQ(ReadReg(mmio::kStatus), kLive);
    transport_->queue_notifier(0).Consume();  // DRIVER_OK's own kick
    transport_->queue_notifier(1).Consume();
  }
  // One chain of a single 16-byte writable buffer, made available.
  void PostBuffer(uint16_t head) {
    driver().SetDescriptor(head, kData.value() + 16 * head, 16, VRING_DESC_F_WRITE);
    driver().MakeAvailable(head);
  }

  std::shared_ptr<GuestMemory> memory_;
  CountingInterrupt interrupt_;
  EchoDevice::Calls calls_;
  std::unique_ptr<MmioTransport> transport_;
  std::optional<TestDriver> driver_holder_;  // made in SetUp, once memory_ exists
  TestDriver& driver() { return *driver_holder_; }
};

TEST_F(MmioTransportTest, IdentifiesAVersion2Device) {
  EXPECT_EQ(ReadReg(mmio::kMagicValue), 0x74726976u);
  EXPECT_EQ(ReadReg(mmio::kVersion), 2u);
  EXPECT_EQ(ReadReg(mmio::kDeviceId), kDeviceIdEntropy);
  EXPECT_EQ(ReadReg(mmio::kVendorId), mmio::kVendor);
  WriteReg(mmio::kQueueSel, 1);
  EXPECT_EQ(ReadReg(mmio::kQueueNumMax), kQueueSize);
  WriteReg(mmio::kQueueSel, 2);
  EXPECT_EQ(ReadReg(mmio::kQueueNumMax), 0u) << "a queue the device does not have";
  EXPECT_EQ(ReadReg(mmio::kShmLenLow), 0xffffffffu) << "no shared memory regions";
}

TEST_F(MmioTransportTest, OffersTheDeviceFeaturesAndVersion1) {
  WriteReg(mmio::kDeviceFeaturesSel, 0);
  EXPECT_EQ(ReadReg(mmio::kDeviceFeatures), static_cast<uint32_t>(kDeviceFeature | kFeatureEventIdx));
  WriteReg(mmio::kDeviceFeaturesSel, 1);
  EXPECT_EQ(ReadReg(mmio::kDeviceFeatures), 1u) << "VIRTIO_F_VERSION_1 is bit 32";
  WriteReg(mmio::kDeviceFeaturesSel, 2);
  EXPECT_EQ(ReadReg(mmio::kDeviceFeatures), 0u);
}

TEST_F(MmioTransportTest, WithheldFeaturesAreNeitherOfferedNorAccepted) {
  ASSERT_OK_AND_ASSIGN(transport_, MmioTransport::Create(std::make_unique<EchoDevice>(&calls_), memory_,
                                                         &interrupt_, kFeatureEventIdx));
  WriteReg(mmio::kDeviceFeaturesSel, 0);
  EXPECT_EQ(ReadReg(mmio::kDeviceFeatures), static_cast<uint32_t>(kDeviceFeature));
  NegotiateFeatures(kFeatureVersion1 | kDeviceFeature | kFeatureEventIdx);
  EXPECT_EQ(ReadReg(mmio::kStatus) & status::kFeaturesOk, 0u) << "event-idx was withheld";
}

TEST_F(MmioTransportTest, ANotificationIsServedOnTheLoopAndInterruptsTheDriver) {
  MakeLive();
  EXPECT_EQ(calls_.activations, 1);
  EXPECT_EQ(calls_.activated_with, kFeatureVersion1 | kDeviceFeature);
  PostBuffer(0);
  WriteReg(mmio::kQueueNotify, 0);
  // The vCPU's write only signalled the queue's notifier: nothing was served on its thread.
  EXPECT_EQ(driver().UsedIdx(), 0);
  EXPECT_EQ(transport_->queue_notifier(0).Consume(), 1u);
  EXPECT_EQ(transport_->queue_notifier(1).Consume(), 0u);

  transport_->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 1);
  EXPECT_EQ(driver().UsedElement(0).id, 0u);
  EXPECT_EQ(driver().UsedElement(0).len, 2u);
  ASSERT_OK_AND_ASSIGN(uint16_t written, memory_->Read<uint16_t>(kData));
  EXPECT_EQ(written, 'o' | ('k' << 8));
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(ReadReg(mmio::kInterruptStatus), kInterruptUsedBuffer);
  WriteReg(mmio::kInterruptAck, kInterruptUsedBuffer);
  EXPECT_EQ(ReadReg(mmio::kInterruptStatus), 0u);
  EXPECT_EQ(transport_->counters().notifications, 1u);
}

TEST_F(MmioTransportTest, UsedBuffersBeforeTheAckShareOneInterrupt) {
  MakeLive();
  PostBuffer(0);
  transport_->ProcessQueue(0);
  EXPECT_EQ(interrupt_.count(), 1);
  // Another used buffer while the driver has not acknowledged the first interrupt: its
  // handler will find both, so no second edge.
  PostBuffer(0);
  transport_->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 2);
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(transport_->counters().interrupts, 1u);
  EXPECT_EQ(ReadReg(mmio::kInterruptStatus), kInterruptUsedBuffer);
  // After the acknowledgement the next used buffer interrupts again.
  WriteReg(mmio::kInterruptAck, kInterruptUsedBuffer);
  PostBuffer(0);
  transport_->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 3);
  EXPECT_EQ(interrupt_.count(), 2);
  EXPECT_EQ(transport_->counters().interrupts, 2u);
}

TEST_F(MmioTransportTest, ABackendServesQueuesThroughTheTransport) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventLoop> loop, EventLoop::Create("backend-test"));
  ASSERT_OK(transport_->AttachBackend(*loop));
  EXPECT_EQ(calls_.backend_loop, loop.get());
  ASSERT_TRUE(calls_.serve_queue);
  PostBuffer(0);
  calls_.serve_queue(0);
  EXPECT_EQ(driver().UsedIdx(), 0) << "nothing is served before DRIVER_OK";
  MakeLive();
  calls_.serve_queue(0);
  EXPECT_EQ(driver().UsedIdx(), 1);
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(transport_->counters().notifications, 1u);
}

TEST_F(MmioTransportTest, ADriverWithoutVersion1DoesNotGetFeaturesOk) {
  NegotiateFeatures(kDeviceFeature);
  EXPECT_EQ(ReadReg(mmio::kStatus), status::kAcknowledge | status::kDriver);
  EXPECT_EQ(transport_->counters().refused_transitions, 1u);
}

TEST_F(MmioTransportTest, AcceptingAFeatureNeverOfferedIsRefused) {
  NegotiateFeatures(kFeatureVersion1 | (uint64_t{1} << 7));
  EXPECT_EQ(ReadReg(mmio::kStatus) & status::kFeaturesOk, 0u);
}

TEST_F(MmioTransportTest, StatusBitsOutOfOrderAreRefused) {
  WriteReg(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kDriverOk);
  EXPECT_EQ(ReadReg(mmio::kStatus), 0u) << "DRIVER_OK before FEATURES_OK";
  WriteReg(mmio::kStatus, status::kDriver);
  EXPECT_EQ(ReadReg(mmio::kStatus), 0u) << "DRIVER before ACKNOWLEDGE";
  WriteReg(mmio::kStatus, status::kAcknowledge);
  WriteReg(mmio::kStatus, status::kDriver);
  EXPECT_EQ(ReadReg(mmio::kStatus), status::kAcknowledge) << "a bit taken away";
  EXPECT_EQ(transport_->counters().refused_transitions, 3u);
  EXPECT_EQ(calls_.activations, 0);
}

TEST_F(MmioTransportTest, QueuesAreConfiguredOnlyWhileNegotiating) {
  SetUpQueue0();  // before FEATURES_OK
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 0u);
  MakeLive();
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 1u);
  WriteReg(mmio::kQueueSel, 1);
  WriteReg(mmio::kQueueReady, 1);  // after DRIVER_OK
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 0u);
}

TEST_F(MmioTransportTest, AQueueConfiguredAgainstTheSpecStaysNotReady) {
  NegotiateFeatures(kFeatureVersion1);
  SetUpQueue0(/*size=*/6);  // not a power of two
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 0u);
  SetUpQueue0(/*size=*/16);  // above QueueNumMax
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 0u);
  WriteReg(mmio::kQueueDescHigh, 0x10);  // the table far outside guest RAM
  WriteReg(mmio::kQueueNum, kQueueSize);
  WriteReg(mmio::kQueueReady, 1);
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 0u);
}

TEST_F(MmioTransportTest, NothingIsServedBeforeDriverOk) {
  NegotiateFeatures(kFeatureVersion1);
  SetUpQueue0();
  PostBuffer(0);
  transport_->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 0);
  // DRIVER_OK kicks every queue, so what was posted before it is served.
  WriteReg(mmio::kStatus, kLive);
  EXPECT_EQ(transport_->queue_notifier(0).Consume(), 1u);
  transport_->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 1);
}

TEST_F(MmioTransportTest, ABrokenRingNeedsResetUntilTheDriverResets) {
  MakeLive();
  driver().SetAvailIdx(kQueueSize + 1);  // more chains than the queue has entries
  transport_->ProcessQueue(0);
  EXPECT_EQ(ReadReg(mmio::kStatus), kLive | status::kNeedsReset);
  EXPECT_EQ(ReadReg(mmio::kInterruptStatus), kInterruptConfigChange);
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(transport_->counters().needs_reset, 1u);

  driver().SetAvailIdx(1);  // repaired, but the device stays out of use until reset
  PostBuffer(0);
  transport_->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 0);

  WriteReg(mmio::kStatus, 0);
  EXPECT_EQ(ReadReg(mmio::kStatus), 0u);
  EXPECT_EQ(ReadReg(mmio::kInterruptStatus), 0u);
  EXPECT_EQ(ReadReg(mmio::kQueueReady), 0u);
  EXPECT_EQ(calls_.resets, 1);
  MmioTransportState state = transport_->state();
  EXPECT_EQ(state.driver_features, 0u);
  EXPECT_FALSE(state.queues[0].ready);
}

TEST_F(MmioTransportTest, RegistersTakeOnlyAligned32BitAccesses) {
  uint8_t byte = 0xaa;
  transport_->Read(mmio::kMagicValue, absl::MakeSpan(&byte, 1));
  EXPECT_EQ(byte, 0);
  uint32_t value = 0xffffffff;
  transport_->Read(mmio::kMagicValue + 2, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), 4));
  EXPECT_EQ(value, 0u);
  const uint8_t status_byte = status::kAcknowledge;
  transport_->Write(mmio::kStatus, absl::MakeConstSpan(&status_byte, 1));
  EXPECT_EQ(ReadReg(mmio::kStatus), 0u);
  WriteReg(mmio::kMagicValue, 1);  // read-only
  EXPECT_EQ(transport_->counters().refused_accesses, 4u);
}

TEST_F(MmioTransportTest, ConfigurationSpaceIsTheDevices) {
  uint8_t bytes[3] = {};
  transport_->Read(mmio::kConfig + 4, absl::MakeSpan(bytes));
  EXPECT_EQ(bytes[0], 0xc4);
  EXPECT_EQ(bytes[2], 0xc6);
}

TEST_F(MmioTransportTest, ANotifyForAQueueTheDeviceLacksIsRefused) {
  MakeLive();
  WriteReg(mmio::kQueueNotify, 7);
  EXPECT_EQ(transport_->counters().refused_accesses, 1u);
  EXPECT_EQ(transport_->queue_notifier(0).Consume(), 0u);
}

// A live transport's state, put into a new transport over the same memory, carries on where
// the first stopped: the next chain is served at the next used-ring slot.
TEST_F(MmioTransportTest, StateRestoredIntoANewTransportCarriesOn) {
  MakeLive();
  PostBuffer(0);
  transport_->ProcessQueue(0);
  ASSERT_EQ(driver().UsedIdx(), 1);
  MmioTransportState state = transport_->state();

  EchoDevice::Calls calls;
  CountingInterrupt interrupt;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MmioTransport> restored,
                       MmioTransport::Create(std::make_unique<EchoDevice>(&calls), memory_,
                                             &interrupt));
  ASSERT_OK(restored->Restore(state));
  EXPECT_EQ(calls.activations, 1) << "a live device is activated again";
  MmioTransportState again = restored->state();
  EXPECT_EQ(again.status, state.status);
  EXPECT_EQ(again.driver_features, state.driver_features);
  EXPECT_EQ(again.queues, state.queues);
  PostBuffer(1);
  restored->ProcessQueue(0);
  EXPECT_EQ(driver().UsedIdx(), 2);
  EXPECT_EQ(driver().UsedElement(1).id, 1u);

  state.queues.pop_back();
  EXPECT_EQ(restored->Restore(state).code(), absl::StatusCode::kInvalidArgument);
  state = transport_->state();
  state.status |= 0x10;
  EXPECT_EQ(restored->Restore(state).code(), absl::StatusCode::kInvalidArgument);
}

// Chains a device holds (popped, not used) are given back in the state: a transport restored
// from it pops them again, so a snapshot taken while a device waited loses no buffer.
TEST_F(MmioTransportTest, StateGivesBackTheChainsADeviceHolds) {
  MakeLive();
  calls_.hold = true;
  PostBuffer(0);
  transport_->ProcessQueue(0);
  ASSERT_EQ(driver().UsedIdx(), 0);
  MmioTransportState state = transport_->state();
  EXPECT_EQ(state.queues[0].next_avail, state.queues[0].next_used);

  EchoDevice::Calls calls;
  CountingInterrupt interrupt;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MmioTransport> restored,
                       MmioTransport::Create(std::make_unique<EchoDevice>(&calls), memory_,
                                             &interrupt));
  ASSERT_OK(restored->Restore(state));
  restored->ProcessQueue(0);
  ASSERT_EQ(driver().UsedIdx(), 1);
  EXPECT_EQ(driver().UsedElement(0).id, 0u);
}

// A driver that finds DEVICE_NEEDS_RESET writes the status back with FAILED added, the bit
// echoed (Linux's virtio_add_status: read, OR, write): the device takes FAILED.
TEST_F(MmioTransportTest, FailedIsTakenWhenTheDriverEchoesNeedsReset) {
  MakeLive();
  driver().SetAvailIdx(kQueueSize + 1);
  transport_->ProcessQueue(0);
  ASSERT_EQ(ReadReg(mmio::kStatus), kLive | status::kNeedsReset);
  WriteReg(mmio::kStatus, kLive | status::kNeedsReset | status::kFailed);
  EXPECT_EQ(ReadReg(mmio::kStatus), kLive | status::kNeedsReset | status::kFailed);
}

TEST_F(MmioTransportTest, TheDriverCannotSetNeedsResetItself) {
  MakeLive();
  WriteReg(mmio::kStatus, kLive | status::kNeedsReset);
  EXPECT_EQ(ReadReg(mmio::kStatus), kLive);
}

// A queue taken down (QueueReady = 0) and set up again before DRIVER_OK keeps the ring
// features that were negotiated.
TEST_F(MmioTransportTest, AQueueSetUpAgainKeepsTheNegotiatedRingFeatures) {
  NegotiateFeatures(kFeatureVersion1 | kFeatureEventIdx);
  SetUpQueue0();
  ASSERT_TRUE(transport_->state().queues[0].event_idx);
  WriteReg(mmio::kQueueReady, 0);
  WriteReg(mmio::kQueueReady, 1);
  ASSERT_EQ(ReadReg(mmio::kQueueReady), 1u);
  EXPECT_TRUE(transport_->state().queues[0].event_idx);
}

}  // namespace
}  // namespace vmmd::virtio
