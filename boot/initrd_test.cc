#include "boot/initrd.h"

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(InitrdTest, PlacedPageAlignedAtTheTopOfLowRam) {
  GuestMemory memory = GuestMemory::Create(128 * kMiB).value();
  ASSERT_OK_AND_ASSIGN(GuestAddress address, InitrdLoadAddress(memory, 10 * kMiB + 123));
  EXPECT_EQ(address.value() % 4096, 0u);
  EXPECT_EQ(address.value(), (128 * kMiB - (10 * kMiB + 123)) & ~0xfffull);
  EXPECT_LE(address.value() + 10 * kMiB + 123, 128 * kMiB);
}

TEST(InitrdTest, StaysBelowTheMmioGap) {
  GuestMemory memory = GuestMemory::Create(6 * kGiB).value();
  ASSERT_OK_AND_ASSIGN(GuestAddress address, InitrdLoadAddress(memory, 4096));
  EXPECT_EQ(address.value(), 3 * kGiB - 4096);
}

TEST(InitrdTest, RespectsTheKernelsInitrdAddrMax) {
  GuestMemory memory = GuestMemory::Create(2 * kGiB).value();
  ASSERT_OK_AND_ASSIGN(GuestAddress address, InitrdLoadAddress(memory, 8192, 0x37ffffff));
  EXPECT_EQ(address.value(), 0x38000000u - 8192);
}

// dbs-boot's rule: RAM must hold the initrd plus 32 MiB for the kernel.
TEST(InitrdTest, NeedsThirtyTwoMiBOfHeadroom) {
  GuestMemory memory = GuestMemory::Create(64 * kMiB).value();
  EXPECT_OK(InitrdLoadAddress(memory, 32 * kMiB).status());
  EXPECT_THAT(InitrdLoadAddress(memory, 32 * kMiB + 1),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("32 MiB")));
  EXPECT_THAT(InitrdLoadAddress(memory, 0), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

}  // namespace
}  // namespace vmmd
