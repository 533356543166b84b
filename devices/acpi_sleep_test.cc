#include "devices/acpi_sleep.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(AcpiSleepTest, S5WithSleepEnablePowersOff) {
  int power_offs = 0;
  AcpiSleep sleep([&] { ++power_offs; });
  const uint8_t s5 = (5 << 2) | (1 << 5);  // what Linux's acpi_hw_extended_sleep writes
  sleep.Write(0, absl::MakeConstSpan(&s5, 1));
  EXPECT_EQ(power_offs, 1);
}

TEST(AcpiSleepTest, OtherWritesDoNothing) {
  int power_offs = 0;
  AcpiSleep sleep([&] { ++power_offs; });
  for (uint8_t value : {uint8_t{5 << 2}, uint8_t{(3 << 2) | (1 << 5)}, uint8_t{1 << 5}, uint8_t{0}}) {
    sleep.Write(0, absl::MakeConstSpan(&value, 1));  // S5 without SLP_EN, S3, S0
  }
  const uint8_t s5 = (5 << 2) | (1 << 5);
  sleep.Write(1, absl::MakeConstSpan(&s5, 1));  // the status register
  EXPECT_EQ(power_offs, 0);
}

TEST(AcpiSleepTest, BothRegistersReadZero) {
  AcpiSleep sleep([] {});
  uint8_t bytes[2] = {0xff, 0xff};
  sleep.Read(0, absl::MakeSpan(bytes, 1));
  sleep.Read(1, absl::MakeSpan(bytes + 1, 1));
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 0);
}

}  // namespace
}  // namespace vmmd
