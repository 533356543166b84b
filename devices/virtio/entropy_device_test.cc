#include "devices/virtio/entropy_device.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "base/status_matchers.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {
namespace {

using testing::kAvailableRing;
using testing::kData;
using testing::kDescriptorTable;
using testing::kMemorySize;
using testing::kUsedRing;
using testing::TestDriver;

constexpr uint16_t kSize = 16;

class EntropyDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    driver_.emplace(*memory_, kSize);
    ASSERT_OK_AND_ASSIGN(Virtqueue queue, Virtqueue::Create(EntropyDevice::kQueueSize));
    queue_.emplace(std::move(queue));
    ASSERT_OK(queue_->SetSize(kSize));
    ASSERT_OK(queue_->SetDescriptorTable(kDescriptorTable));
    ASSERT_OK(queue_->SetAvailableRing(kAvailableRing));
    ASSERT_OK(queue_->SetUsedRing(kUsedRing));
    ASSERT_OK(queue_->SetReady(*memory_));
  }

  std::vector<uint8_t> Bytes(uint64_t address, size_t length) {
    std::vector<uint8_t> out(length);
    EXPECT_OK(memory_->ReadBytes(GuestAddress(address), absl::MakeSpan(out)));
    return out;
  }

  EntropyDevice device_;
  std::optional<GuestMemory> memory_;
  std::optional<TestDriver> driver_;
  std::optional<Virtqueue> queue_;
};

TEST_F(EntropyDeviceTest, IsAnEntropyDeviceWithOneQueue) {
  EXPECT_EQ(device_.device_id(), 4u);
  EXPECT_EQ(device_.queue_max_sizes(), std::vector<uint16_t>{EntropyDevice::kQueueSize});
}

TEST_F(EntropyDeviceTest, FillsEveryWritableBufferWithRandomBytes) {
  // Two writable buffers in one chain, then a second chain: all of them filled.
  driver_->SetDescriptor(0, kData.value(), 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
  driver_->SetDescriptor(1, kData.value() + 0x1000, 300, VRING_DESC_F_WRITE);
  driver_->SetDescriptor(2, kData.value() + 0x2000, 64, VRING_DESC_F_WRITE);
  driver_->MakeAvailable(0);
  driver_->MakeAvailable(2);
  ASSERT_OK(device_.ProcessQueue(0, *queue_, *memory_));
  ASSERT_EQ(driver_->UsedIdx(), 2);
  EXPECT_EQ(driver_->UsedElement(0).len, 400u);
  EXPECT_EQ(driver_->UsedElement(1).len, 64u);
  // 300 random bytes are never all zero (probability 2^-2400); the byte after is untouched.
  std::vector<uint8_t> second = Bytes(kData.value() + 0x1000, 301);
  EXPECT_NE(std::count(second.begin(), second.end() - 1, 0), 300);
  EXPECT_EQ(second.back(), 0);
  EXPECT_NE(Bytes(kData.value(), 100), Bytes(kData.value() + 0x2000, 100));
  DeviceCounters counters = device_.counters();
  EXPECT_EQ(counters.requests, 2u);
  EXPECT_EQ(counters.bytes_read, 464u);
}

TEST_F(EntropyDeviceTest, AHugeRequestGetsTheCapAndReadableBuffersAreLeftAlone) {
  ASSERT_OK(memory_->Fill(kData, 0x5a, 16));
  driver_->SetDescriptor(0, kData.value(), 16, VRING_DESC_F_NEXT, 1);  // device-readable
  driver_->SetDescriptor(1, kData.value() + 0x1000, 512 * 1024, VRING_DESC_F_WRITE);
  driver_->MakeAvailable(0);
  ASSERT_OK(device_.ProcessQueue(0, *queue_, *memory_));
  EXPECT_EQ(driver_->UsedElement(0).len, EntropyDevice::kMaxBytesPerRequest);
  EXPECT_EQ(Bytes(kData.value(), 16), std::vector<uint8_t>(16, 0x5a));
}

TEST_F(EntropyDeviceTest, ABrokenRingIsAnError) {
  driver_->SetAvailIdx(kSize + 1);
  EXPECT_EQ(device_.ProcessQueue(0, *queue_, *memory_).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmmd::virtio
