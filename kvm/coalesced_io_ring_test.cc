// CoalescedIoRing's consumer side over a page laid out as the kernel's (no /dev/kvm needed);
// kvm_test.cc has the ring filled by KVM itself.
#include "kvm/coalesced_io_ring.h"

#include <linux/kvm.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

constexpr size_t kPageSize = 4096;

// A page with the kernel's layout: {first, last}, then 24-byte entries. Plays KVM's part.
class FakeKernelRing {
 public:
  FakeKernelRing() : words_(kPageSize / 8, 0) {}
  void* page() { return words_.data(); }
  uint32_t* first() { return reinterpret_cast<uint32_t*>(words_.data()); }
  uint32_t* last() { return first() + 1; }
  kvm_coalesced_mmio* entry(uint32_t index) {
    return reinterpret_cast<kvm_coalesced_mmio*>(reinterpret_cast<char*>(words_.data()) + 8) +
           index;
  }
  void Push(size_t capacity, uint64_t port, uint8_t byte) {
    kvm_coalesced_mmio* slot = entry(*last());
    slot->phys_addr = port;
    slot->len = 1;
    slot->pio = 1;
    slot->data[0] = byte;
    *last() = static_cast<uint32_t>((*last() + 1) % capacity);
  }

 private:
  std::vector<uint64_t> words_;
};

std::vector<uint8_t> DrainBytes(CoalescedIoRing& ring) {
  std::vector<uint8_t> bytes;
  ring.Drain([&](const CoalescedIoRing::Write& write) {
    EXPECT_TRUE(write.pio);
    bytes.insert(bytes.end(), write.data.begin(), write.data.end());
  });
  return bytes;
}

TEST(CoalescedIoRingTest, CapacityIsTheKernelsForAFourKibPage) {
  FakeKernelRing kernel;
  CoalescedIoRing ring(kernel.page(), kPageSize, /*owned=*/false);
  EXPECT_EQ(ring.capacity(), (kPageSize - 8) / sizeof(kvm_coalesced_mmio));  // 170
  EXPECT_TRUE(ring.Empty());
}

TEST(CoalescedIoRingTest, DrainsInOrderAcrossTheWrapAndFreesTheSlots) {
  FakeKernelRing kernel;
  CoalescedIoRing ring(kernel.page(), kPageSize, /*owned=*/false);
  // Start near the end so that the entries wrap to slot 0.
  *kernel.first() = *kernel.last() = static_cast<uint32_t>(ring.capacity() - 2);
  for (uint8_t byte = 1; byte <= 5; ++byte) kernel.Push(ring.capacity(), 0x3f8, byte);
  EXPECT_FALSE(ring.Empty());
  EXPECT_THAT(DrainBytes(ring), ::testing::ElementsAre(1, 2, 3, 4, 5));
  EXPECT_TRUE(ring.Empty());
  EXPECT_EQ(*kernel.first(), 3u);
  EXPECT_THAT(DrainBytes(ring), ::testing::IsEmpty());
}

TEST(CoalescedIoRingTest, AnEntryTheKernelCouldNotHaveWrittenEmptiesTheRing) {
  FakeKernelRing kernel;
  CoalescedIoRing ring(kernel.page(), kPageSize, /*owned=*/false);
  kernel.Push(ring.capacity(), 0x3f8, 'a');
  kernel.Push(ring.capacity(), 0x3f8, 'b');
  kernel.entry(1)->len = 9;  // more than the 8 data bytes an entry has
  kernel.Push(ring.capacity(), 0x3f8, 'c');
  EXPECT_THAT(DrainBytes(ring), ::testing::ElementsAre('a'));
  EXPECT_TRUE(ring.Empty());
}

TEST(CoalescedIoRingTest, AnIndexPastTheEndEmptiesTheRing) {
  FakeKernelRing kernel;
  CoalescedIoRing ring(kernel.page(), kPageSize, /*owned=*/false);
  *kernel.last() = static_cast<uint32_t>(ring.capacity() + 7);
  EXPECT_THAT(DrainBytes(ring), ::testing::IsEmpty());
  EXPECT_TRUE(ring.Empty());
}

}  // namespace
}  // namespace vmmd
