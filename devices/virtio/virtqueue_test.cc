#include "devices/virtio/virtqueue.h"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_matchers.h"
#include "devices/virtio/split_ring.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using ::vmmd::virtio::testing::kAvailableRing;
using ::vmmd::virtio::testing::kData;
using ::vmmd::virtio::testing::kDescriptorTable;
using ::vmmd::virtio::testing::kMemorySize;
using ::vmmd::virtio::testing::kUsedRing;
using ::vmmd::virtio::testing::TestDriver;

constexpr uint16_t kMaxSize = 256;

class VirtqueueTest : public ::testing::Test {
 protected:
  VirtqueueTest()
      : memory_(GuestMemory::Create(kMemorySize).value()),
        queue_(Virtqueue::Create(kMaxSize).value()) {}

  // Configures the queue with the test layout and makes it ready.
  void Configure(uint16_t size, uint64_t features = 0) {
    ASSERT_OK(queue_.SetSize(size));
    ASSERT_OK(queue_.SetDescriptorTable(kDescriptorTable));
    ASSERT_OK(queue_.SetAvailableRing(kAvailableRing));
    ASSERT_OK(queue_.SetUsedRing(kUsedRing));
    ASSERT_OK(queue_.SetFeatures(features));
  }
  void MakeReady(uint16_t size, uint64_t features = 0) {
    Configure(size, features);
    ASSERT_OK(queue_.SetReady(memory_));
    driver_.emplace(memory_, size);
  }

  // Gives descriptor `index` a one-buffer chain (readable 16 bytes at kData + 0x100 * index)
  // and makes it available.
  void Offer(uint16_t index) {
    driver_->SetDescriptor(index, kData.value() + 0x100 * index, 16);
    driver_->MakeAvailable(index);
  }

  // Pops a chain, which must be there; returns its head.
  uint16_t PopHead() {
    absl::StatusOr<std::optional<DescriptorChain>> chain = queue_.Pop(memory_);
    EXPECT_TRUE(chain.ok()) << chain.status();
    if (!chain.ok() || !chain->has_value()) {
      ADD_FAILURE() << "no chain";
      return 0xffff;
    }
    return (*chain)->head();
  }

  void ExpectEmpty() {
    absl::StatusOr<std::optional<DescriptorChain>> chain = queue_.Pop(memory_);
    ASSERT_OK(chain);
    EXPECT_FALSE(chain->has_value());
  }

  bool NeedsInterrupt() {
    absl::StatusOr<bool> wanted = queue_.NeedsInterrupt(memory_);
    EXPECT_TRUE(wanted.ok()) << wanted.status();
    return wanted.value_or(false);
  }

  GuestMemory memory_;
  Virtqueue queue_;
  std::optional<TestDriver> driver_;
};

// --- Configuration.

TEST_F(VirtqueueTest, CreateChecksTheMaximumSize) {
  EXPECT_THAT(Virtqueue::Create(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("maximum queue size 0 is not in [1, 32768]")));
  EXPECT_THAT(Virtqueue::Create(32769),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32769")));
  ASSERT_OK_AND_ASSIGN(Virtqueue queue, Virtqueue::Create(32768));
  EXPECT_EQ(queue.max_size(), 32768);
  EXPECT_EQ(queue.state().size, 32768);
  EXPECT_FALSE(queue.ready());
}

TEST_F(VirtqueueTest, SetReadyAcceptsAValidConfiguration) {
  MakeReady(128, kFeatureEventIdx | kFeatureIndirectDesc | (uint64_t{1} << 32));
  const VirtqueueState& state = queue_.state();
  EXPECT_TRUE(state.ready);
  EXPECT_EQ(state.size, 128);
  EXPECT_EQ(state.descriptor_table, kDescriptorTable);
  EXPECT_EQ(state.available_ring, kAvailableRing);
  EXPECT_EQ(state.used_ring, kUsedRing);
  EXPECT_TRUE(state.event_idx);
  EXPECT_TRUE(state.indirect_descriptors);
  EXPECT_EQ(state.next_avail, 0);
  EXPECT_EQ(state.next_used, 0);
}

TEST_F(VirtqueueTest, FeaturesOtherThanTheRingsAreIgnored) {
  MakeReady(16, uint64_t{1} << 32);  // VIRTIO_F_VERSION_1
  EXPECT_FALSE(queue_.state().event_idx);
  EXPECT_FALSE(queue_.state().indirect_descriptors);
}

TEST_F(VirtqueueTest, ZeroSizeIsRefused) {
  Configure(0);
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("queue size is 0: it must be a power of two from 1 to 32768")));
  EXPECT_FALSE(queue_.ready());
}

TEST_F(VirtqueueTest, NonPowerOfTwoSizeIsRefused) {
  for (uint16_t size : {3, 100, 255}) {
    Configure(size);
    EXPECT_THAT(queue_.SetReady(memory_),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrFormat("queue size %d is not a power of two", size))));
  }
  for (uint16_t size : {1, 2, 256}) {
    Configure(size);
    EXPECT_OK(queue_.SetReady(memory_)) << size;
    queue_.Reset();
  }
}

TEST_F(VirtqueueTest, SizeAboveTheDevicesMaximumIsRefused) {
  Configure(512);
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "queue size 512 is above the device's maximum of 256"));
}

TEST_F(VirtqueueTest, LargestQueue) {
  // 32768 entries: 512 KiB of descriptors, 64 KiB + 6 of available ring, 256 KiB + 6 of used.
  ASSERT_OK_AND_ASSIGN(Virtqueue queue, Virtqueue::Create(32768));
  ASSERT_OK(queue.SetSize(32768));
  ASSERT_OK(queue.SetDescriptorTable(GuestAddress(0)));
  ASSERT_OK(queue.SetAvailableRing(GuestAddress(0x80000)));
  ASSERT_OK(queue.SetUsedRing(GuestAddress(0x91000)));
  EXPECT_OK(queue.SetReady(memory_));
}

TEST_F(VirtqueueTest, MisalignedRingsAreRefused) {
  Configure(16);
  ASSERT_OK(queue_.SetDescriptorTable(kDescriptorTable.UncheckedAdd(8)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("descriptor table address 0x1008 is not aligned to 16 bytes")));
  ASSERT_OK(queue_.SetDescriptorTable(kDescriptorTable.UncheckedAdd(16)));
  ASSERT_OK(queue_.SetAvailableRing(kAvailableRing.UncheckedAdd(1)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("available ring address 0x2001 is not aligned to 2 bytes")));
  ASSERT_OK(queue_.SetAvailableRing(kAvailableRing.UncheckedAdd(2)));
  ASSERT_OK(queue_.SetUsedRing(kUsedRing.UncheckedAdd(2)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("used ring address 0x3002 is not aligned to 4 bytes")));
  // The minimum alignments are enough.
  ASSERT_OK(queue_.SetUsedRing(kUsedRing.UncheckedAdd(4)));
  EXPECT_OK(queue_.SetReady(memory_));
}

TEST_F(VirtqueueTest, RingsMustLieInRamForTheirFullSize) {
  Configure(256);
  // Available ring: 6 + 2 * 256 = 518 bytes, exactly up to the end of RAM.
  ASSERT_OK(queue_.SetAvailableRing(GuestAddress(kMemorySize - 518)));
  // Used ring: 6 + 8 * 256 = 2054 bytes; aligned to 4, it ends 2 bytes before the end.
  ASSERT_OK(queue_.SetUsedRing(GuestAddress(kMemorySize - 2056)));
  // Descriptor table: 16 * 256 bytes.
  ASSERT_OK(queue_.SetDescriptorTable(GuestAddress(kMemorySize - 4096)));
  EXPECT_OK(queue_.SetReady(memory_));
  queue_.Reset();

  Configure(256);
  ASSERT_OK(queue_.SetDescriptorTable(GuestAddress(kMemorySize - 4096 + 16)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "descriptor table [0xff010, 0x100010) (16 * queue size bytes) is not "
                       "inside guest RAM"));
  Configure(256);
  ASSERT_OK(queue_.SetAvailableRing(GuestAddress(kMemorySize - 516)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("available ring [0xffdfc, 0x100002) (6 + 2 * queue size")));
  Configure(256);
  ASSERT_OK(queue_.SetUsedRing(GuestAddress(kMemorySize - 2052)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("used ring [0xff7fc, 0x100002) (6 + 8 * queue size")));
  EXPECT_FALSE(queue_.ready());
}

TEST_F(VirtqueueTest, RingWrappingTheAddressSpaceIsRefused) {
  Configure(16);
  ASSERT_OK(queue_.SetUsedRing(GuestAddress(0xffff'ffff'ffff'ffc0)));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("used ring at 0xffffffffffffffc0 + 0x86 bytes (6 + 8 * queue "
                                 "size) wraps around the address space")));
}

TEST_F(VirtqueueTest, ConfigurationIsLockedWhileReady) {
  MakeReady(16);
  EXPECT_THAT(queue_.SetSize(8), StatusIs(absl::StatusCode::kFailedPrecondition,
                                          HasSubstr("SetSize: the queue is ready")));
  EXPECT_THAT(queue_.SetDescriptorTable(GuestAddress(0)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ready")));
  EXPECT_THAT(queue_.SetAvailableRing(GuestAddress(0)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ready")));
  EXPECT_THAT(queue_.SetUsedRing(GuestAddress(0)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ready")));
  EXPECT_THAT(queue_.SetFeatures(0), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ready")));
  EXPECT_THAT(queue_.SetReady(memory_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ready")));
  EXPECT_EQ(queue_.state().size, 16);
  EXPECT_EQ(queue_.state().descriptor_table, kDescriptorTable);
}

TEST_F(VirtqueueTest, TheDataPathNeedsAReadyQueue) {
  Configure(16);
  EXPECT_THAT(queue_.Pop(memory_), StatusIs(absl::StatusCode::kFailedPrecondition,
                                            "Pop: the queue is not ready"));
  EXPECT_THAT(queue_.AddUsed(memory_, 0, 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not ready")));
  EXPECT_THAT(queue_.NeedsInterrupt(memory_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not ready")));
}

TEST_F(VirtqueueTest, ResetReturnsToTheInitialState) {
  MakeReady(16, kFeatureEventIdx);
  Offer(1);
  EXPECT_EQ(PopHead(), 1);
  queue_.Reset();
  ASSERT_OK_AND_ASSIGN(Virtqueue fresh, Virtqueue::Create(kMaxSize));
  EXPECT_EQ(queue_.state(), fresh.state());
  EXPECT_FALSE(queue_.ready());
  EXPECT_EQ(queue_.state().size, kMaxSize);
}

// --- The available ring.

TEST_F(VirtqueueTest, PopsChainsInTheDriversOrder) {
  MakeReady(16);
  ExpectEmpty();
  driver_->SetDescriptor(3, 0x10000, 16, VRING_DESC_F_NEXT, 4);
  driver_->SetDescriptor(4, 0x20000, 512, VRING_DESC_F_WRITE);
  driver_->MakeAvailable(3);
  Offer(0);
  ASSERT_OK_AND_ASSIGN(std::optional<DescriptorChain> first, queue_.Pop(memory_));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->head(), 3);
  EXPECT_EQ(first->readable_length(), 16u);
  EXPECT_EQ(first->writable_length(), 512u);
  EXPECT_EQ(PopHead(), 0);
  ExpectEmpty();
  EXPECT_EQ(queue_.state().next_avail, 2);
  EXPECT_EQ(queue_.in_flight(), 2);
}

TEST_F(VirtqueueTest, AvailIdxJumpingPastTheQueueSizeNeedsAReset) {
  MakeReady(4);
  driver_->SetAvailIdx(5);
  const VirtqueueState before = queue_.state();
  EXPECT_THAT(queue_.Pop(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "available ring idx 5 is 5 entries past the next one to pop (0), more "
                       "than the queue size 4"));
  // Nothing consumed: the same call fails again.
  EXPECT_EQ(queue_.state(), before);
  EXPECT_THAT(queue_.Pop(memory_), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("idx 5")));
  // A driver that "decrements" idx (2.7.6.1 forbids it) moves it 65535 entries ahead.
  driver_->SetAvailIdx(0xffff);
  EXPECT_THAT(queue_.Pop(memory_), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("65535 entries past")));
}

TEST_F(VirtqueueTest, AvailIdxExactlyTheQueueSizeAheadIsFine) {
  MakeReady(8);
  for (uint16_t i = 0; i < 8; ++i) Offer(7 - i);
  EXPECT_EQ(driver_->avail_idx(), 8);
  for (uint16_t i = 0; i < 8; ++i) {
    EXPECT_EQ(PopHead(), 7 - i);
    EXPECT_EQ(queue_.state().next_avail, i + 1);
  }
  ExpectEmpty();
  EXPECT_EQ(queue_.in_flight(), 8);
}

TEST_F(VirtqueueTest, HeadIndexBeyondTheQueue) {
  MakeReady(4);
  driver_->MakeAvailable(4);
  EXPECT_THAT(queue_.Pop(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "available ring entry 0 (slot 0): head index 4 is beyond the queue size 4"));
  EXPECT_EQ(queue_.state().next_avail, 0);
}

TEST_F(VirtqueueTest, BadChainIsNotConsumed) {
  MakeReady(8);
  driver_->SetDescriptor(2, 0x10000, 16, VRING_DESC_F_NEXT, 9);
  driver_->MakeAvailable(2);
  EXPECT_THAT(queue_.Pop(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "available ring entry 0 (head 2): descriptor 2: next index 9 is beyond "
                       "the queue size 8"));
  EXPECT_EQ(queue_.state().next_avail, 0);
  // Indirect descriptors were not negotiated.
  driver_->SetDescriptor(2, 0x10000, 16, VRING_DESC_F_INDIRECT);
  EXPECT_THAT(queue_.Pop(memory_), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("without VIRTIO_F_INDIRECT_DESC")));
  driver_->SetDescriptor(2, 0x10000, 16);
  EXPECT_EQ(PopHead(), 2);
}

TEST_F(VirtqueueTest, PopAppliesTheLimitsAndTheFeatures) {
  MakeReady(8, kFeatureIndirectDesc);
  driver_->SetDescriptor(0, 0x8000, 32, VRING_DESC_F_INDIRECT);
  driver_->SetIndirect(GuestAddress(0x8000), 0, 0x10000, 100, VRING_DESC_F_NEXT, 1);
  driver_->SetIndirect(GuestAddress(0x8000), 1, 0x20000, 100, VRING_DESC_F_WRITE);
  driver_->MakeAvailable(0);
  ChainLimits limits;
  limits.max_total_length = 199;
  EXPECT_THAT(queue_.Pop(memory_, limits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the limit of 199")));
  limits.max_total_length = 200;
  ASSERT_OK_AND_ASSIGN(std::optional<DescriptorChain> chain, queue_.Pop(memory_, limits));
  ASSERT_TRUE(chain.has_value());
  EXPECT_TRUE(chain->indirect());
  EXPECT_EQ(chain->writable_length(), 100u);
}

TEST_F(VirtqueueTest, NoMoreChainsInFlightThanTheQueueSize) {
  MakeReady(2);
  Offer(0);
  Offer(1);
  EXPECT_EQ(PopHead(), 0);
  EXPECT_EQ(PopHead(), 1);
  // Both descriptors are the device's: a third chain cannot exist.
  driver_->MakeAvailable(0);
  EXPECT_THAT(queue_.Pop(memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the driver made a chain available while all 2 of the queue's chains are "
                       "in flight"));
  ASSERT_OK(queue_.AddUsed(memory_, 1, 0));
  EXPECT_EQ(PopHead(), 0);
}

// --- The used ring.

TEST_F(VirtqueueTest, AddUsedPublishesTheElementAndIdx) {
  MakeReady(8);
  Offer(5);
  Offer(6);
  EXPECT_EQ(PopHead(), 5);
  EXPECT_EQ(PopHead(), 6);
  EXPECT_EQ(driver_->UsedIdx(), 0);
  // Out of order: the device finished 6 first.
  ASSERT_OK(queue_.AddUsed(memory_, 6, 1234));
  EXPECT_EQ(driver_->UsedIdx(), 1);
  EXPECT_EQ(driver_->UsedElement(0).id, 6u);
  EXPECT_EQ(driver_->UsedElement(0).len, 1234u);
  ASSERT_OK(queue_.AddUsed(memory_, 5, 0));
  EXPECT_EQ(driver_->UsedIdx(), 2);
  EXPECT_EQ(driver_->UsedElement(1).id, 5u);
  EXPECT_EQ(driver_->UsedElement(1).len, 0u);
  EXPECT_EQ(queue_.state().next_used, 2);
  EXPECT_EQ(queue_.in_flight(), 0);
}

TEST_F(VirtqueueTest, AddUsedBatchPublishesAllElementsOrNone) {
  MakeReady(8);
  for (uint16_t head : {2, 3, 4}) Offer(head);
  for (int i = 0; i < 3; ++i) PopHead();
  const Virtqueue::UsedElement too_many[] = {{2, 1}, {3, 2}, {4, 3}, {5, 4}};
  EXPECT_THAT(queue_.AddUsedBatch(memory_, too_many),
              StatusIs(absl::StatusCode::kFailedPrecondition, "AddUsed(head 2): 4 chains returned, 3 in flight"));
  const Virtqueue::UsedElement bad_head[] = {{2, 1}, {8, 2}};
  EXPECT_THAT(queue_.AddUsedBatch(memory_, bad_head),
              StatusIs(absl::StatusCode::kInvalidArgument, "AddUsed: head index 8 is beyond the queue size 8"));
  EXPECT_EQ(driver_->UsedIdx(), 0) << "nothing of a refused batch is published";
  EXPECT_EQ(driver_->UsedElement(0).id, 0u) << "nor written";
  ASSERT_OK(queue_.AddUsedBatch(memory_, {}));
  const Virtqueue::UsedElement packet[] = {{3, 100}, {2, 200}, {4, 50}};
  ASSERT_OK(queue_.AddUsedBatch(memory_, packet));
  EXPECT_EQ(driver_->UsedIdx(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(driver_->UsedElement(i).id, packet[i].head) << i;
    EXPECT_EQ(driver_->UsedElement(i).len, packet[i].written_length) << i;
  }
  EXPECT_EQ(queue_.in_flight(), 0);
}

TEST_F(VirtqueueTest, AddUsedNeedsAChainInFlightAndAValidHead) {
  MakeReady(8);
  EXPECT_THAT(queue_.AddUsed(memory_, 0, 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, "AddUsed(head 0): no chain is in flight"));
  Offer(1);
  EXPECT_EQ(PopHead(), 1);
  EXPECT_THAT(queue_.AddUsed(memory_, 8, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "AddUsed: head index 8 is beyond the queue size 8"));
  EXPECT_EQ(driver_->UsedIdx(), 0);
  EXPECT_EQ(queue_.state().next_used, 0);
  ASSERT_OK(queue_.AddUsed(memory_, 1, 0));
  EXPECT_THAT(queue_.AddUsed(memory_, 1, 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no chain is in flight")));
  EXPECT_EQ(driver_->UsedIdx(), 1);
}

TEST_F(VirtqueueTest, IndicesWrapPast65535) {
  // A queue restored with its indices just below the wrap, as after 65534 requests.
  Configure(4);
  VirtqueueState state = queue_.state();
  state.ready = true;
  state.next_avail = state.next_used = state.signalled_used = 65534;
  ASSERT_OK_AND_ASSIGN(queue_, Virtqueue::Restore(kMaxSize, state, memory_));
  driver_.emplace(memory_, 4);
  driver_->SetAvailIdx(65534);
  ASSERT_OK(memory_.Write<uint16_t>(kUsedRing.UncheckedAdd(2), 65534));
  for (uint16_t head = 0; head < 4; ++head) Offer(head);  // ring slots 2, 3, 0, 1
  EXPECT_EQ(driver_->avail_idx(), 2);
  for (uint16_t head = 0; head < 4; ++head) EXPECT_EQ(PopHead(), head);
  ExpectEmpty();
  EXPECT_EQ(queue_.state().next_avail, 2);
  const uint16_t expected_idx[] = {65535, 0, 1, 2};
  for (uint16_t head = 0; head < 4; ++head) {
    ASSERT_OK(queue_.AddUsed(memory_, head, 100 + head));
    EXPECT_EQ(driver_->UsedIdx(), expected_idx[head]);
  }
  const uint16_t slot_of[] = {2, 3, 0, 1};
  for (uint16_t head = 0; head < 4; ++head) {
    EXPECT_EQ(driver_->UsedElement(slot_of[head]).id, head);
    EXPECT_EQ(driver_->UsedElement(slot_of[head]).len, 100u + head);
  }
  EXPECT_EQ(queue_.state().next_used, 2);
  // And on past the wrap.
  Offer(3);
  EXPECT_EQ(PopHead(), 3);
  ASSERT_OK(queue_.AddUsed(memory_, 3, 7));
  EXPECT_EQ(driver_->UsedIdx(), 3);
  EXPECT_EQ(driver_->UsedElement(2).id, 3u);
}

// --- Used buffer notifications (2.7.7).

TEST_F(VirtqueueTest, InterruptUnlessTheDriverSetNoInterrupt) {
  MakeReady(8);
  EXPECT_FALSE(NeedsInterrupt());  // nothing used yet
  Offer(0);
  Offer(1);
  EXPECT_EQ(PopHead(), 0);
  EXPECT_EQ(PopHead(), 1);
  ASSERT_OK(queue_.AddUsed(memory_, 0, 0));
  EXPECT_TRUE(NeedsInterrupt());
  EXPECT_FALSE(NeedsInterrupt());  // nothing new since
  driver_->SetAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
  ASSERT_OK(queue_.AddUsed(memory_, 1, 0));
  EXPECT_FALSE(NeedsInterrupt());
}

TEST_F(VirtqueueTest, EventIdxInterruptsWhenUsedIdxPassesUsedEvent) {
  MakeReady(8, kFeatureEventIdx);
  driver_->SetAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);  // ignored with event idx (2.7.7.2)
  driver_->SetUsedEvent(2);  // interrupt once the element at index 2 is written
  std::vector<bool> wanted;
  for (uint16_t i = 0; i < 4; ++i) {
    Offer(i);
    EXPECT_EQ(PopHead(), i);
    ASSERT_OK(queue_.AddUsed(memory_, i, 0));
    wanted.push_back(NeedsInterrupt());
  }
  EXPECT_THAT(wanted, ::testing::ElementsAre(false, false, true, false));
  // Two elements at once (used idx 4 -> 6) crossing used_event 5: one interrupt.
  driver_->SetUsedEvent(5);
  for (uint16_t i = 4; i < 6; ++i) {
    Offer(i);
    EXPECT_EQ(PopHead(), i);
    ASSERT_OK(queue_.AddUsed(memory_, i, 0));
  }
  EXPECT_TRUE(NeedsInterrupt());
  // Batch 6 -> 8 with used_event 5 behind it: none.
  for (uint16_t i = 6; i < 8; ++i) {
    Offer(i);
    EXPECT_EQ(PopHead(), i);
    ASSERT_OK(queue_.AddUsed(memory_, i, 0));
  }
  EXPECT_FALSE(NeedsInterrupt());
}

TEST_F(VirtqueueTest, EventIdxAcrossTheWrap) {
  Configure(4, kFeatureEventIdx);
  VirtqueueState state = queue_.state();
  state.ready = true;
  state.next_avail = state.next_used = state.signalled_used = 65535;
  ASSERT_OK_AND_ASSIGN(queue_, Virtqueue::Restore(kMaxSize, state, memory_));
  driver_.emplace(memory_, 4);
  driver_->SetAvailIdx(65535);
  driver_->SetUsedEvent(0);  // the element written at used index 0, after the wrap
  Offer(0);
  EXPECT_EQ(PopHead(), 0);
  ASSERT_OK(queue_.AddUsed(memory_, 0, 0));  // used idx 65535 -> 0: index 65535 written
  EXPECT_FALSE(NeedsInterrupt());
  Offer(1);
  EXPECT_EQ(PopHead(), 1);
  ASSERT_OK(queue_.AddUsed(memory_, 1, 0));  // 0 -> 1: index 0 written
  EXPECT_TRUE(NeedsInterrupt());
}

// --- Available buffer notifications (2.7.10).

TEST_F(VirtqueueTest, EventIdxAsksForANotificationWhenTheRingIsEmpty) {
  MakeReady(8, kFeatureEventIdx);
  ASSERT_OK(memory_.Write<uint16_t>(kUsedRing.UncheckedAdd(4 + 8 * 8), 0xabcd));
  ExpectEmpty();
  EXPECT_EQ(driver_->AvailEvent(), 0);
  Offer(0);
  Offer(1);
  EXPECT_EQ(PopHead(), 0);
  EXPECT_EQ(driver_->AvailEvent(), 0);  // not rewritten while there is work
  EXPECT_EQ(PopHead(), 1);
  ExpectEmpty();
  EXPECT_EQ(driver_->AvailEvent(), 2);  // notify when the driver writes entry 2
  EXPECT_EQ(driver_->UsedFlags(), 0);
}

TEST_F(VirtqueueTest, WithoutEventIdxTheUsedRingsSuppressionFieldsAreLeftAlone) {
  MakeReady(8);
  ASSERT_OK(memory_.Write<uint16_t>(kUsedRing.UncheckedAdd(4 + 8 * 8), 0xabcd));
  ExpectEmpty();
  Offer(0);
  EXPECT_EQ(PopHead(), 0);
  ExpectEmpty();
  EXPECT_EQ(driver_->AvailEvent(), 0xabcd);
  EXPECT_EQ(driver_->UsedFlags(), 0);
}

// --- Snapshots.

TEST_F(VirtqueueTest, RestoredQueueContinuesIdentically) {
  MakeReady(8, kFeatureEventIdx | kFeatureIndirectDesc);
  for (uint16_t i = 0; i < 3; ++i) Offer(i);
  EXPECT_EQ(PopHead(), 0);
  EXPECT_EQ(PopHead(), 1);
  ASSERT_OK(queue_.AddUsed(memory_, 1, 10));
  EXPECT_TRUE(NeedsInterrupt());
  const VirtqueueState saved = queue_.state();  // a plain copy
  EXPECT_EQ(saved.next_avail, 2);
  EXPECT_EQ(saved.next_used, 1);
  EXPECT_EQ(saved.signalled_used, 1);

  ASSERT_OK_AND_ASSIGN(Virtqueue restored, Virtqueue::Restore(kMaxSize, saved, memory_));
  EXPECT_EQ(restored.state(), saved);
  EXPECT_EQ(restored.max_size(), kMaxSize);
  EXPECT_EQ(restored.in_flight(), 1);
  // The restored queue carries on where the saved one was: chain 2 next, chain 0 in flight.
  ASSERT_OK_AND_ASSIGN(std::optional<DescriptorChain> chain, restored.Pop(memory_));
  ASSERT_TRUE(chain.has_value());
  EXPECT_EQ(chain->head(), 2);
  ASSERT_OK(restored.AddUsed(memory_, 0, 20));
  EXPECT_EQ(driver_->UsedIdx(), 2);
  EXPECT_EQ(driver_->UsedElement(1).id, 0u);
}

TEST_F(VirtqueueTest, RestoreChecksAReadyState) {
  Configure(8);
  VirtqueueState state = queue_.state();
  state.ready = true;
  EXPECT_OK(Virtqueue::Restore(kMaxSize, state, memory_));
  EXPECT_THAT(Virtqueue::Restore(4, state, memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("restoring a ready queue: queue size 8 is above the device's "
                                 "maximum of 4")));
  EXPECT_THAT(Virtqueue::Restore(0, state, memory_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("maximum queue size 0")));
  VirtqueueState misaligned = state;
  misaligned.used_ring = GuestAddress(0x3002);
  EXPECT_THAT(Virtqueue::Restore(kMaxSize, misaligned, memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("restoring a ready queue: used ring address 0x3002")));
  VirtqueueState overfull = state;
  overfull.next_avail = 9;
  EXPECT_THAT(Virtqueue::Restore(kMaxSize, overfull, memory_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("9 chains in flight (next_avail 9, next_used 0) are more than "
                                 "the queue size 8")));
  overfull.next_used = 1;
  EXPECT_OK(Virtqueue::Restore(kMaxSize, overfull, memory_));
  // A queue that is not ready holds register values, checked when it is made ready.
  VirtqueueState unready = misaligned;
  unready.ready = false;
  unready.size = 3;
  ASSERT_OK_AND_ASSIGN(Virtqueue queue, Virtqueue::Restore(kMaxSize, unready, memory_));
  EXPECT_EQ(queue.state(), unready);
  EXPECT_THAT(queue.SetReady(memory_), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("queue size 3")));
}

}  // namespace
}  // namespace vmmd::virtio
