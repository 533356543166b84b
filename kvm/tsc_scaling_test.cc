// When restoring a vCPU sets its TSC rate: only when the saved rate is outside KVM's
// tolerance of the rate the new vCPU already has.
#include <cstdint>

#include "gtest/gtest.h"
#include "kvm/vcpu_state.h"

namespace vmmd {
namespace {

TEST(TscScalingTest, TheSameRateNeedsNoScaling) {
  EXPECT_FALSE(TscNeedsScaling(2'100'000, 2'100'000));
}

TEST(TscScalingTest, RatesWithinKvmsToleranceEitherWayNeedNone) {
  // 250 ppm of 2.1 GHz is 525 kHz.
  EXPECT_FALSE(TscNeedsScaling(2'100'000, 2'100'525));
  EXPECT_FALSE(TscNeedsScaling(2'100'000, 2'099'475));
}

TEST(TscScalingTest, RatesBeyondItNeedScaling) {
  EXPECT_TRUE(TscNeedsScaling(2'100'000, 2'100'526));
  EXPECT_TRUE(TscNeedsScaling(2'100'000, 2'099'474));
  EXPECT_TRUE(TscNeedsScaling(2'100'000, 3'000'000));
  EXPECT_TRUE(TscNeedsScaling(2'100'000, 1));
}

TEST(TscScalingTest, TheLargestRatesDoNotOverflow) {
  EXPECT_TRUE(TscNeedsScaling(UINT32_MAX, 1));
  EXPECT_FALSE(TscNeedsScaling(UINT32_MAX, UINT32_MAX - 1000));
}

}  // namespace
}  // namespace vmmd
