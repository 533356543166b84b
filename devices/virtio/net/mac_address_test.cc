#include "devices/virtio/net/mac_address.h"

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::virtio {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

TEST(MacAddressTest, ParsesAndFormatsEitherCase) {
  ASSERT_OK_AND_ASSIGN(MacAddress mac, ParseMacAddress("02:AB:cd:00:Ef:9f", "guest_mac"));
  EXPECT_EQ(mac, (MacAddress{0x02, 0xab, 0xcd, 0x00, 0xef, 0x9f}));
  EXPECT_EQ(FormatMacAddress(mac), "02:ab:cd:00:ef:9f");
}

TEST(MacAddressTest, RefusesMalformedMulticastAndZeroAddressesNamingTheField) {
  for (const char* text : {"", "02:ab:cd:00:ef", "02:ab:cd:00:ef:9f:00", "02-ab-cd-00-ef-9f",
                           "02:ab:cd:00:ef:9g", "2:ab:cd:00:ef:9f0", " 02:ab:cd:00:ef:9"}) {
    EXPECT_THAT(ParseMacAddress(text, "network_interfaces[1].guest_mac"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("network_interfaces[1].guest_mac: must be six hex bytes")))
        << text;
  }
  EXPECT_THAT(ParseMacAddress("01:00:5e:00:00:01", "m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multicast")));
  EXPECT_THAT(ParseMacAddress("ff:ff:ff:ff:ff:ff", "m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multicast")));
  EXPECT_THAT(ParseMacAddress("00:00:00:00:00:00", "m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an address")));
}

TEST(MacAddressTest, GeneratedAddressesAreStableLocalUnicastAndDistinct) {
  const MacAddress a = GeneratedMacAddress("vm1", "eth0");
  EXPECT_EQ(a, GeneratedMacAddress("vm1", "eth0"));
  EXPECT_EQ(a[0] & 0x03, 0x02) << "locally administered, unicast";
  EXPECT_NE(a, GeneratedMacAddress("vm1", "eth1"));
  EXPECT_NE(a, GeneratedMacAddress("vm2", "eth0"));
  ASSERT_OK_AND_ASSIGN(MacAddress parsed, ParseMacAddress(FormatMacAddress(a), "m"));
  EXPECT_EQ(parsed, a);
}

}  // namespace
}  // namespace vmmd::virtio
