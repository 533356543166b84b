// CoalescedPortWrites on the real KVM (tag: requires-kvm): a few instructions of real-mode
// code write to a port, and a recording device on the bus says what was replayed, and when.
#include "daemon/coalesced_port_writes.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <thread>
#include <variant>
#include <vector>

#include "base/status_matchers.h"
#include "devices/fake_devices.h"
#include "devices/io_bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::vmmd::testing::RecordingDevice;

constexpr uint16_t kPort = 0x10;

// mov al,1; out 0x10,al; mov al,2; out 0x10,al; mov al,3; out 0x10,al; out 0x11,al; jmp $
constexpr std::array<uint8_t, 16> kThreeWritesThenAnotherPort = {
    0xb0, 0x01, 0xe6, 0x10, 0xb0, 0x02, 0xe6, 0x10, 0xb0, 0x03, 0xe6, 0x10, 0xe6, 0x11, 0xeb, 0xfe};

class CoalescedPortWritesTest : public ::vmmd::testing::RealModeVmTest {
 protected:
  void SetUp() override {
    RealModeVmTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK(bus_.Register(kPort, 1, &device_));
    absl::StatusOr<std::unique_ptr<CoalescedPortWrites>> writes = CoalescedPortWrites::Create(
        kvm(), *vm_, *vcpu_, bus_, kPort, [this] { return now_; });
    if (absl::IsUnimplemented(writes.status())) GTEST_SKIP() << writes.status();
    ASSERT_OK(writes.status());
    writes_ = std::move(*writes);
  }

  // The enable budget's clock, moved by the tests.
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point() + std::chrono::hours(1);

  // The bytes the device received, in order.
  std::vector<uint8_t> Received() const {
    std::vector<uint8_t> bytes;
    for (const auto& write : device_.writes()) bytes.insert(bytes.end(), write.data.begin(), write.data.end());
    return bytes;
  }

  // Runs until the exit at port 0x11.
  void RunToPort11() {
    ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
    const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
    ASSERT_NE(out, nullptr) << "exit index " << exit.index();
    ASSERT_EQ(out->port, 0x11);
  }

  IoBus bus_;
  RecordingDevice device_;
  std::unique_ptr<CoalescedPortWrites> writes_;
};

TEST_F(CoalescedPortWritesTest, StartsOffSoEveryWriteExits) {
  EXPECT_FALSE(writes_->enabled());
  LoadRealModeCode(kThreeWritesThenAnotherPort);
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->port, kPort);
}

TEST_F(CoalescedPortWritesTest, QueuedWritesReachTheDeviceOnFlushInOrder) {
  ASSERT_OK(writes_->Follow([] { return true; }));
  EXPECT_TRUE(writes_->enabled());
  LoadRealModeCode(kThreeWritesThenAnotherPort);
  RunToPort11();
  EXPECT_THAT(Received(), IsEmpty()) << "queued in KVM until replayed";
  writes_->Flush();
  EXPECT_THAT(Received(), ElementsAre(1, 2, 3));
  EXPECT_EQ(writes_->replayed(), 3u);
}

TEST_F(CoalescedPortWritesTest, TurningOffReplaysWhatWasQueued) {
  ASSERT_OK(writes_->Follow([] { return true; }));
  LoadRealModeCode(kThreeWritesThenAnotherPort);
  RunToPort11();
  ASSERT_OK(writes_->Follow([] { return false; }));
  EXPECT_FALSE(writes_->enabled());
  EXPECT_THAT(Received(), ElementsAre(1, 2, 3));
  // And the next write exits again.
  LoadRealModeCode(kThreeWritesThenAnotherPort);
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->port, kPort);
}

TEST_F(CoalescedPortWritesTest, WritesToAnotherZoneOfTheSameRingAreNotOurs) {
  ASSERT_OK(writes_->Follow([] { return true; }));
  ASSERT_OK(vm_->RegisterCoalescedPio(0x11, 1));  // someone else's zone, same ring
  // mov al,9; out 0x11,al; mov al,1; out 0x10,al; out 0x12,al; jmp $
  LoadRealModeCode(std::array<uint8_t, 12>{0xb0, 0x09, 0xe6, 0x11, 0xb0, 0x01, 0xe6, 0x10, 0xe6,
                                           0x12, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  ASSERT_NE(std::get_if<vcpu_exit::IoOut>(&exit), nullptr);
  writes_->Flush();
  EXPECT_THAT(Received(), ElementsAre(1));
}

// The budget on its own clock: kMaxEnablesPerSecond enables within a second, then it stays
// off (writes exit one by one, always correct) until the second is over.
TEST_F(CoalescedPortWritesTest, TurningOnIsRateLimited) {
  for (int i = 0; i < CoalescedPortWrites::kMaxEnablesPerSecond; ++i) {
    ASSERT_OK(writes_->Follow([] { return true; }));
    ASSERT_TRUE(writes_->enabled()) << "enable " << i;
    ASSERT_OK(writes_->Follow([] { return false; }));
    now_ += std::chrono::milliseconds(10);
  }
  ASSERT_OK(writes_->Follow([] { return true; }));
  EXPECT_FALSE(writes_->enabled()) << "enable " << CoalescedPortWrites::kMaxEnablesPerSecond + 1
                                   << " within the second";
  now_ += std::chrono::milliseconds(790);  // 0.99 s since the first enable
  ASSERT_OK(writes_->Follow([] { return true; }));
  EXPECT_FALSE(writes_->enabled()) << "still within the second";
  now_ += std::chrono::milliseconds(10);
  ASSERT_OK(writes_->Follow([] { return true; }));
  EXPECT_TRUE(writes_->enabled()) << "a new second, a new budget";
}

}  // namespace
}  // namespace vmmd
