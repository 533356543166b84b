#include "devices/virtio/descriptor_chain.h"

#include <array>
#include <cstdint>
#include <ostream>
#include <vector>

#include "base/status_matchers.h"
#include "devices/virtio/split_ring.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {

// For failure messages (found by argument-dependent lookup, so outside the anonymous
// namespace).
void PrintTo(const ChainBuffer& buffer, std::ostream* os) {
  *os << "{" << std::hex << "0x" << buffer.address.value() << std::dec << ", " << buffer.length
      << (buffer.writable ? ", writable}" : ", readable}");
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using ::vmmd::virtio::testing::kData;
using ::vmmd::virtio::testing::kDescriptorTable;
using ::vmmd::virtio::testing::kIndirectTables;
using ::vmmd::virtio::testing::kMemorySize;
using ::vmmd::virtio::testing::TestDriver;

constexpr uint16_t kQueueSize = 256;
constexpr uint16_t kNext = VRING_DESC_F_NEXT;
constexpr uint16_t kWrite = VRING_DESC_F_WRITE;
constexpr uint16_t kIndirect = VRING_DESC_F_INDIRECT;

ChainBuffer Readable(uint64_t address, uint32_t length) {
  return ChainBuffer{GuestAddress(address), length, false};
}
ChainBuffer Writable(uint64_t address, uint32_t length) {
  return ChainBuffer{GuestAddress(address), length, true};
}

class DescriptorChainTest : public ::testing::Test {
 protected:
  DescriptorChainTest()
      : memory_(GuestMemory::Create(kMemorySize).value()), driver_(memory_, kQueueSize) {}

  absl::StatusOr<DescriptorChain> Walk(uint16_t head, const ChainLimits& limits = {},
                                       bool indirect_allowed = true) {
    return DescriptorChain::Walk(
        memory_, DescriptorTable{kDescriptorTable, kQueueSize, indirect_allowed}, head, limits);
  }

  GuestMemory memory_;
  TestDriver driver_;
};

TEST_F(DescriptorChainTest, SingleReadableDescriptor) {
  driver_.SetDescriptor(5, kData.value(), 64);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(5));
  EXPECT_EQ(chain.head(), 5);
  EXPECT_THAT(chain.buffers(), ElementsAre(Readable(kData.value(), 64)));
  EXPECT_EQ(chain.readable_length(), 64u);
  EXPECT_EQ(chain.writable_length(), 0u);
  EXPECT_TRUE(chain.writable().empty());
  EXPECT_FALSE(chain.indirect());
}

TEST_F(DescriptorChainTest, ReadableThenWritableChainInDescriptorOrder) {
  // A virtio-blk request: header (readable), data (writable), status (writable), with the
  // table's indices out of order.
  driver_.SetDescriptor(3, 0x10000, 16, kNext, 9);
  driver_.SetDescriptor(9, 0x20000, 4096, kNext | kWrite, 1);
  driver_.SetDescriptor(1, 0x30000, 1, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(3));
  EXPECT_THAT(chain.readable(), ElementsAre(Readable(0x10000, 16)));
  EXPECT_THAT(chain.writable(), ElementsAre(Writable(0x20000, 4096), Writable(0x30000, 1)));
  EXPECT_EQ(chain.readable_length(), 16u);
  EXPECT_EQ(chain.writable_length(), 4097u);
}

TEST_F(DescriptorChainTest, OnlyWritableBuffers) {
  driver_.SetDescriptor(0, 0x10000, 32, kWrite | kNext, 1);
  driver_.SetDescriptor(1, 0x10020, 32, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(0));
  EXPECT_TRUE(chain.readable().empty());
  EXPECT_EQ(chain.writable_length(), 64u);
}

TEST_F(DescriptorChainTest, ReadableAfterWritableIsRefused) {
  driver_.SetDescriptor(0, 0x10000, 16, kWrite | kNext, 1);
  driver_.SetDescriptor(1, 0x20000, 16);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("descriptor 1: a device-readable buffer follows a "
                                          "device-writable one")));
}

TEST_F(DescriptorChainTest, LoopIsRefusedNotFollowed) {
  driver_.SetDescriptor(0, 0x10000, 16, kNext, 1);
  driver_.SetDescriptor(1, 0x10000, 16, kNext, 2);
  driver_.SetDescriptor(2, 0x10000, 16, kNext, 1);  // 1 -> 2 -> 1
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("longer than the queue size 256 (a loop)")));
}

TEST_F(DescriptorChainTest, SelfLoopIsRefused) {
  driver_.SetDescriptor(7, 0x10000, 16, kNext, 7);
  EXPECT_THAT(Walk(7), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a loop")));
}

TEST_F(DescriptorChainTest, ChainOfExactlyTheQueueSizeIsAccepted) {
  // Every descriptor of a 4-entry table, once: the longest chain without a loop.
  const DescriptorTable table{kDescriptorTable, 4, false};
  for (uint16_t i = 0; i < 4; ++i) {
    driver_.SetDescriptor(i, 0x10000 + 0x100 * i, 0x100, i < 3 ? kNext : 0, i + 1);
  }
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, DescriptorChain::Walk(memory_, table, 0));
  EXPECT_EQ(chain.buffers().size(), 4u);
  EXPECT_EQ(chain.readable_length(), 0x400u);
  // One more hop (3 -> 0) and it is a loop.
  driver_.SetDescriptor(3, 0x10300, 0x100, kNext, 0);
  EXPECT_THAT(DescriptorChain::Walk(memory_, table, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queue size 4 (a loop)")));
}

TEST_F(DescriptorChainTest, NextIndexBeyondTheQueue) {
  driver_.SetDescriptor(2, 0x10000, 16, kNext, 7);
  driver_.SetDescriptor(7, 0x10000, 16, kNext, 300);
  EXPECT_THAT(Walk(2), StatusIs(absl::StatusCode::kInvalidArgument,
                                "descriptor 7: next index 300 is beyond the queue size 256"));
  driver_.SetDescriptor(7, 0x10000, 16, kNext, 256);
  EXPECT_THAT(Walk(2), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("next index 256")));
  driver_.SetDescriptor(7, 0x10000, 16, kNext, 255);
  driver_.SetDescriptor(255, 0x10000, 16);
  EXPECT_OK(Walk(2));
}

TEST_F(DescriptorChainTest, HeadBeyondTheQueue) {
  EXPECT_THAT(Walk(256), StatusIs(absl::StatusCode::kInvalidArgument,
                                  "head index 256 is beyond the queue size 256"));
}

TEST_F(DescriptorChainTest, ZeroSizeTable) {
  EXPECT_THAT(DescriptorChain::Walk(memory_, DescriptorTable{kDescriptorTable, 0, false}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queue size 0")));
}

TEST_F(DescriptorChainTest, TableOutsideRam) {
  // A table whose last entry is in RAM but the others are not (Virtqueue::SetReady refuses
  // such a table; Walk on its own still checks every read).
  const DescriptorTable table{GuestAddress(kMemorySize - 16), 4, false};
  ASSERT_OK(memory_.Write(GuestAddress(kMemorySize - 16), testing::Descriptor(0x10000, 8)));
  EXPECT_OK(DescriptorChain::Walk(memory_, table, 0));
  EXPECT_THAT(DescriptorChain::Walk(memory_, table, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("descriptor 1: cannot be read: guest range")));
  ASSERT_OK(memory_.Write(GuestAddress(kMemorySize - 16), testing::Descriptor(0x10000, 8, kNext, 2)));
  EXPECT_THAT(DescriptorChain::Walk(memory_, table, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor 2: cannot be read")));
}

TEST_F(DescriptorChainTest, BufferOutsideRam) {
  // Ending exactly at the end of RAM is fine; one byte further is not.
  driver_.SetDescriptor(0, kMemorySize - 0x100, 0x100);
  EXPECT_OK(Walk(0));
  driver_.SetDescriptor(0, kMemorySize - 0x100, 0x101);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("descriptor 0: buffer [0xfff00, 0x100001) is not "
                                          "inside guest RAM")));
  driver_.SetDescriptor(0, 0x4000'0000, 1);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not inside guest RAM")));
}

TEST_F(DescriptorChainTest, BufferWrappingTheAddressSpace) {
  driver_.SetDescriptor(0, 0xffff'ffff'ffff'fff0, 0x20);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("wraps around the address space")));
}

TEST_F(DescriptorChainTest, ZeroLengthBufferIsKept) {
  driver_.SetDescriptor(0, 0x10000, 0, kNext, 1);
  driver_.SetDescriptor(1, 0x10000, 8, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(0));
  EXPECT_THAT(chain.buffers(), ElementsAre(Readable(0x10000, 0), Writable(0x10000, 8)));
}

TEST_F(DescriptorChainTest, TotalLengthLimit) {
  driver_.SetDescriptor(0, 0x10000, 100, kNext, 1);
  driver_.SetDescriptor(1, 0x20000, 28, kWrite);
  ChainLimits limits;
  limits.max_total_length = 128;
  EXPECT_OK(Walk(0, limits));
  limits.max_total_length = 127;
  EXPECT_THAT(Walk(0, limits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("descriptor 1: the chain's length 100 + 28 exceeds the limit of "
                                 "127 bytes")));
}

TEST_F(DescriptorChainTest, TotalLengthMustFitInUint32) {
  // Two 2 GiB buffers (overlapping is allowed) add up to 2^32: one byte too many for a le32
  // used length, whatever limit the device gave.
  ASSERT_OK_AND_ASSIGN(GuestMemory large, GuestMemory::Create(uint64_t{3} << 30));
  TestDriver driver(large, 4);
  driver.SetDescriptor(0, 0x1000'0000, 0x8000'0000, kNext, 1);
  driver.SetDescriptor(1, 0x1000'0000, 0x7fff'ffff);
  const DescriptorTable table{kDescriptorTable, 4, false};
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, DescriptorChain::Walk(large, table, 0));
  EXPECT_EQ(chain.readable_length(), 0xffff'ffffu);
  driver.SetDescriptor(1, 0x1000'0000, 0x8000'0000);
  EXPECT_THAT(DescriptorChain::Walk(large, table, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the limit")));
}

TEST_F(DescriptorChainTest, TooManyBuffersForTheDevice) {
  for (uint16_t i = 0; i < 4; ++i) driver_.SetDescriptor(i, 0x10000, 8, kNext, i + 1);
  driver_.SetDescriptor(4, 0x10000, 8);  // 5 buffers
  ChainLimits limits;
  limits.max_buffers = 5;
  EXPECT_OK(Walk(0, limits));
  limits.max_buffers = 4;
  EXPECT_THAT(Walk(0, limits), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("descriptor 4: the chain has more than 4 "
                                                  "buffers")));
}

// --- Indirect descriptors (spec 2.7.5.3).

TEST_F(DescriptorChainTest, IndirectTable) {
  // A readable direct descriptor, then an indirect one (2.7.5.3.2: "zero or more normal
  // chained descriptors followed by a single descriptor with VIRTQ_DESC_F_INDIRECT") whose
  // table chains 0 -> 2 -> 1. Its VRING_DESC_F_WRITE is ignored.
  driver_.SetDescriptor(0, 0x10000, 16, kNext, 4);
  driver_.SetDescriptor(4, kIndirectTables.value(), 3 * 16, kIndirect | kWrite);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 32, kNext, 2);
  driver_.SetIndirect(kIndirectTables, 2, 0x12000, 512, kWrite | kNext, 1);
  driver_.SetIndirect(kIndirectTables, 1, 0x13000, 1, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(0));
  EXPECT_TRUE(chain.indirect());
  EXPECT_THAT(chain.buffers(), ElementsAre(Readable(0x10000, 16), Readable(0x11000, 32),
                                           Writable(0x12000, 512), Writable(0x13000, 1)));
  EXPECT_EQ(chain.readable_length(), 48u);
  EXPECT_EQ(chain.writable_length(), 513u);
}

TEST_F(DescriptorChainTest, IndirectWithoutTheFeature) {
  driver_.SetDescriptor(0, kIndirectTables.value(), 16, kIndirect);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 32);
  EXPECT_OK(Walk(0, {}, /*indirect_allowed=*/true));
  EXPECT_THAT(Walk(0, {}, /*indirect_allowed=*/false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("VRING_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC")));
}

TEST_F(DescriptorChainTest, NestedIndirectTable) {
  driver_.SetDescriptor(0, kIndirectTables.value(), 32, kIndirect);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 32, kNext, 1);
  driver_.SetIndirect(kIndirectTables, 1, kIndirectTables.value(), 32, kIndirect);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("indirect descriptor 1 (table of descriptor 0): "
                                          "VRING_DESC_F_INDIRECT inside an indirect table")));
}

TEST_F(DescriptorChainTest, IndirectWithNextIsRefused) {
  driver_.SetDescriptor(0, kIndirectTables.value(), 16, kIndirect | kNext, 1);
  driver_.SetDescriptor(1, 0x10000, 16, kWrite);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 32);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("both VRING_DESC_F_INDIRECT and VRING_DESC_F_NEXT")));
}

TEST_F(DescriptorChainTest, IndirectTableBadLength) {
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 32);
  driver_.SetIndirect(kIndirectTables, 1, 0x11000, 32);
  for (uint32_t length : {0u, 8u, 24u, 33u}) {
    driver_.SetDescriptor(0, kIndirectTables.value(), length, kIndirect);
    EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("not a nonzero multiple of 16")))
        << length;
  }
  driver_.SetDescriptor(0, kIndirectTables.value(), 32, kIndirect);
  EXPECT_OK(Walk(0));
}

TEST_F(DescriptorChainTest, IndirectTableOutsideRam) {
  driver_.SetDescriptor(0, kMemorySize - 16, 32, kIndirect);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("descriptor 0: indirect table: guest range")));
  driver_.SetDescriptor(0, 0xffff'ffff'ffff'fff0, 32, kIndirect);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wraps")));
}

TEST_F(DescriptorChainTest, IndirectTableLargerThanTheQueue) {
  // At most the queue size's entries (2.7.5.3.1), or the device's buffer limit if lower.
  const DescriptorTable table{kDescriptorTable, 4, true};
  for (uint16_t i = 0; i < 5; ++i) driver_.SetIndirect(kIndirectTables, i, 0x11000, 8);
  driver_.SetDescriptor(0, kIndirectTables.value(), 4 * 16, kIndirect);
  EXPECT_OK(DescriptorChain::Walk(memory_, table, 0));
  driver_.SetDescriptor(0, kIndirectTables.value(), 5 * 16, kIndirect);
  EXPECT_THAT(DescriptorChain::Walk(memory_, table, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("indirect table of 5 entries exceeds the limit of 4")));
  ChainLimits limits;
  limits.max_buffers = 3;
  driver_.SetDescriptor(0, kIndirectTables.value(), 4 * 16, kIndirect);
  EXPECT_THAT(DescriptorChain::Walk(memory_, table, 0, limits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the limit of 3")));
}

TEST_F(DescriptorChainTest, DirectAndIndirectBuffersShareTheLimit) {
  // 3 direct + 2 indirect buffers in a queue of 4: one more than a chain may have.
  const DescriptorTable table{kDescriptorTable, 4, true};
  driver_.SetDescriptor(0, 0x10000, 8, kNext, 1);
  driver_.SetDescriptor(1, 0x10000, 8, kNext, 2);
  driver_.SetDescriptor(2, 0x10000, 8, kNext, 3);
  driver_.SetDescriptor(3, kIndirectTables.value(), 2 * 16, kIndirect);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 8, kNext, 1);
  driver_.SetIndirect(kIndirectTables, 1, 0x11000, 8);
  EXPECT_THAT(DescriptorChain::Walk(memory_, table, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("indirect descriptor 1 (table of descriptor 3): the chain has "
                                 "more than 4 buffers")));
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 8);
  EXPECT_OK(DescriptorChain::Walk(memory_, table, 0));
}

TEST_F(DescriptorChainTest, IndirectTableLoopAndBadNext) {
  driver_.SetDescriptor(0, kIndirectTables.value(), 3 * 16, kIndirect);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 8, kNext, 1);
  driver_.SetIndirect(kIndirectTables, 1, 0x11000, 8, kNext, 2);
  driver_.SetIndirect(kIndirectTables, 2, 0x11000, 8, kNext, 1);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("longer than the table's 3 entries (a loop)")));
  driver_.SetIndirect(kIndirectTables, 2, 0x11000, 8, kNext, 3);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("indirect descriptor 2 (table of descriptor 0): next "
                                          "index 3 is beyond the indirect table's 3 entries")));
}

TEST_F(DescriptorChainTest, IndirectBufferOutsideRam) {
  driver_.SetDescriptor(0, kIndirectTables.value(), 16, kIndirect);
  driver_.SetIndirect(kIndirectTables, 0, kMemorySize, 1);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("indirect descriptor 0 (table of descriptor 0): buffer "
                                          "[0x100000, 0x100001) is not inside guest RAM")));
}

TEST_F(DescriptorChainTest, ReadableInIndirectAfterWritableDirect) {
  driver_.SetDescriptor(0, 0x10000, 16, kWrite | kNext, 1);
  driver_.SetDescriptor(1, kIndirectTables.value(), 16, kIndirect);
  driver_.SetIndirect(kIndirectTables, 0, 0x11000, 8);
  EXPECT_THAT(Walk(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("device-readable buffer follows a device-writable")));
}

// --- The chain is a copy, and the copy helpers stay inside it.

TEST_F(DescriptorChainTest, RewritingDescriptorsAfterTheWalkChangesNothing) {
  driver_.SetDescriptor(0, 0x10000, 16, kNext, 1);
  driver_.SetDescriptor(1, 0x20000, 16, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(0));
  driver_.SetDescriptor(0, 0x4000'0000, 0xffff, kNext, 0);  // what a hostile driver might do
  driver_.SetDescriptor(1, 0x50000, 0xffff, kWrite);
  EXPECT_THAT(chain.buffers(), ElementsAre(Readable(0x10000, 16), Writable(0x20000, 16)));
}

TEST_F(DescriptorChainTest, ReadFromReadableAcrossBuffers) {
  const std::array<uint8_t, 4> first = {1, 2, 3, 4};
  const std::array<uint8_t, 4> second = {5, 6, 7, 8};
  ASSERT_OK(memory_.WriteBytes(GuestAddress(0x10000), first));
  ASSERT_OK(memory_.WriteBytes(GuestAddress(0x20000), second));
  ASSERT_OK(memory_.Fill(GuestAddress(0x30000), 0xee, 4));
  driver_.SetDescriptor(0, 0x10000, 4, kNext, 1);
  driver_.SetDescriptor(1, 0x20000, 4, kNext, 2);
  driver_.SetDescriptor(2, 0x30000, 4, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(0));
  std::array<uint8_t, 5> out{};
  ASSERT_OK(chain.ReadFromReadable(memory_, 2, absl::MakeSpan(out)));
  EXPECT_THAT(out, ElementsAre(3, 4, 5, 6, 7));
  std::array<uint8_t, 8> all{};
  ASSERT_OK(chain.ReadFromReadable(memory_, 0, absl::MakeSpan(all)));
  EXPECT_THAT(all, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
  // One byte beyond the readable part (the writable buffer that follows is not read).
  EXPECT_THAT(chain.ReadFromReadable(memory_, 4, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kOutOfRange,
                       "5 bytes at offset 4 are beyond the chain's 8 readable bytes"));
  EXPECT_THAT(chain.ReadFromReadable(memory_, ~uint64_t{0}, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("beyond")));
  EXPECT_OK(chain.ReadFromReadable(memory_, 8, absl::Span<uint8_t>()));
}

TEST_F(DescriptorChainTest, WriteToWritableAcrossBuffersOnly) {
  ASSERT_OK(memory_.Fill(GuestAddress(0x10000), 0xaa, 0x30000));
  driver_.SetDescriptor(0, 0x10000, 4, kNext, 1);
  driver_.SetDescriptor(1, 0x20000, 3, kWrite | kNext, 2);
  driver_.SetDescriptor(2, 0x30000, 3, kWrite);
  ASSERT_OK_AND_ASSIGN(DescriptorChain chain, Walk(0));
  const std::array<uint8_t, 4> bytes = {1, 2, 3, 4};
  ASSERT_OK(chain.WriteToWritable(memory_, 1, bytes));
  std::array<uint8_t, 4> readable{}, first{}, second{};
  ASSERT_OK(memory_.ReadBytes(GuestAddress(0x10000), absl::MakeSpan(readable)));
  ASSERT_OK(memory_.ReadBytes(GuestAddress(0x20000), absl::MakeSpan(first)));
  ASSERT_OK(memory_.ReadBytes(GuestAddress(0x30000), absl::MakeSpan(second)));
  EXPECT_THAT(readable, ElementsAre(0xaa, 0xaa, 0xaa, 0xaa));  // never written (2.7.5.1)
  EXPECT_THAT(first, ElementsAre(0xaa, 1, 2, 0xaa));
  EXPECT_THAT(second, ElementsAre(3, 4, 0xaa, 0xaa));
  EXPECT_THAT(chain.WriteToWritable(memory_, 3, bytes),
              StatusIs(absl::StatusCode::kOutOfRange,
                       "4 bytes at offset 3 are beyond the chain's 6 writable bytes"));
  // A refused write writes nothing.
  ASSERT_OK(memory_.ReadBytes(GuestAddress(0x30000), absl::MakeSpan(second)));
  EXPECT_THAT(second, ElementsAre(3, 4, 0xaa, 0xaa));
}

}  // namespace
}  // namespace vmmd::virtio
