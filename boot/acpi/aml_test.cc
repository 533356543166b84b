#include "boot/acpi/aml.h"

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::acpi {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

Aml Bytes(std::initializer_list<int> values) {
  Aml out;
  for (int value : values) out.push_back(static_cast<uint8_t>(value));
  return out;
}

TEST(AmlTest, NameStringsPadSegmentsAndPrefixPaths) {
  EXPECT_EQ(*NameString("_S5"), Bytes({'_', 'S', '5', '_'}));
  EXPECT_EQ(*NameString("\\_SB"), Bytes({'\\', '_', 'S', 'B', '_'}));
  EXPECT_EQ(*NameString("\\_SB.COM1"), Bytes({'\\', 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'}));
  EXPECT_EQ(*NameString("A.B.C"), Bytes({0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}));
}

TEST(AmlTest, BadNamesAreRefused) {
  for (const char* name : {"", "\\", "TOOLONG", "1ABC", "a", "A..B", "A-B", "\\_SB."}) {
    EXPECT_THAT(NameString(name), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AML name")))
        << name;
  }
}

TEST(AmlTest, IntegersTakeTheShortestEncoding) {
  EXPECT_EQ(Integer(0), Bytes({0x00}));
  EXPECT_EQ(Integer(1), Bytes({0x01}));
  EXPECT_EQ(Integer(5), Bytes({0x0a, 5}));
  EXPECT_EQ(Integer(0x3f8), Bytes({0x0b, 0xf8, 0x03}));
  EXPECT_EQ(Integer(0xd0000000), Bytes({0x0c, 0x00, 0x00, 0x00, 0xd0}));
  EXPECT_EQ(Integer(0x100000000ull), Bytes({0x0e, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(AmlTest, StringsAndEisaIds) {
  EXPECT_EQ(*String("LNRO0005"), Bytes({0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0}));
  EXPECT_THAT(String(std::string("a\nb")), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(String(std::string(256, 'a')), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  // iasl's EisaId("PNP0501") is 0x0105D041.
  EXPECT_EQ(*EisaId("PNP0501"), Bytes({0x0c, 0x41, 0xd0, 0x05, 0x01}));
  for (const char* id : {"PNP050", "pnp0501", "PNP05G1", "PNP05011"}) {
    EXPECT_THAT(EisaId(id), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_)) << id;
  }
}

TEST(AmlTest, PackageLengthGrowsWithTheBody) {
  // One byte up to 63 (itself included).
  absl::StatusOr<Aml> small = Scope("A", {Aml(58, 0xaa)});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)[0], 0x10);
  EXPECT_EQ((*small)[1], 63);
  // Two bytes: lead 0x40 | low nibble, then the rest.
  absl::StatusOr<Aml> medium = Scope("A", {Aml(59, 0xaa)});
  ASSERT_TRUE(medium.ok());
  const size_t total = 2 + 4 + 59;  // PkgLength, name, body
  EXPECT_EQ((*medium)[1], 0x40 | (total & 0xf));
  EXPECT_EQ((*medium)[2], total >> 4);
  EXPECT_EQ(medium->size(), 1 + total);
  // Three bytes past 4095.
  absl::StatusOr<Aml> large = Scope("A", {Aml(5000, 0xaa)});
  ASSERT_TRUE(large.ok());
  const size_t large_total = 3 + 4 + 5000;
  EXPECT_EQ((*large)[1], 0x80 | (large_total & 0xf));
  EXPECT_EQ((*large)[2], (large_total >> 4) & 0xff);
  EXPECT_EQ((*large)[3], large_total >> 12);
}

TEST(AmlTest, DevicesNamesAndPackages) {
  absl::StatusOr<Aml> uid = Name("_UID", Integer(0));
  ASSERT_TRUE(uid.ok());
  EXPECT_EQ(*uid, Bytes({0x08, '_', 'U', 'I', 'D', 0x00}));
  absl::StatusOr<Aml> device = Device("COM1", {*uid});
  ASSERT_TRUE(device.ok());
  EXPECT_THAT(*device, ElementsAre(0x5b, 0x82, 11, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00));
  absl::StatusOr<Aml> package = Package({Integer(5), Integer(5)});
  ASSERT_TRUE(package.ok());
  EXPECT_THAT(*package, ElementsAre(0x12, 6, 2, 0x0a, 5, 0x0a, 5));
  EXPECT_THAT(Package(std::vector<Aml>(256, Integer(0))), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(AmlTest, ResourceTemplatesEndWithTheEndTag) {
  absl::StatusOr<Aml> crs = ResourceTemplate({IoPort(0x3f8, 8), IrqNoFlags(4)});
  ASSERT_TRUE(crs.ok());
  // Buffer, PkgLength, size 13, IO (8 bytes), IRQ (3 bytes), End Tag (2 bytes).
  EXPECT_THAT(*crs, ElementsAreArray(Bytes({0x11, 16, 0x0a, 13, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03,
                                            0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00})));
  EXPECT_EQ(Memory32Fixed(0xd0000000, 0x1000, true),
            Bytes({0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0xd0, 0, 0x10, 0, 0}));
  EXPECT_EQ(ExtendedInterrupt(5), Bytes({0x89, 0x06, 0x00, 0x03, 0x01, 5, 0, 0, 0}));
}

}  // namespace
}  // namespace vmmd::acpi
