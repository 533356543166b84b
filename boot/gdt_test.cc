#include "boot/gdt.h"

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

// dbs-boot test_get_descriptor_config_info.
TEST(GdtTest, BootTableHasFourEntriesAtTheLayoutAddresses) {
  EXPECT_EQ(kBootGdt.size(), layout::kGdtMaxEntries);
  EXPECT_EQ(layout::kGdtStart, 0x500u);
  EXPECT_EQ(layout::kIdtStart, 0x520u);
}

// The golden descriptor words of dbs-arch's validate_segments_and_sregs.
TEST(GdtTest, GoldenDescriptorWords) {
  EXPECT_EQ(kBootGdt[0], 0u);
  EXPECT_EQ(kBootGdt[1], 0xaf9b000000ffffu);
  EXPECT_EQ(kBootGdt[2], 0xcf93000000ffffu);
  EXPECT_EQ(kBootGdt[3], 0x8f8b000000ffffu);
}

TEST(GdtTest, EntryPacksBaseAndLimitAcrossTheirSplitFields) {
  const uint64_t entry = GdtEntry(0xc093, 0x12345678, 0xabcde);
  const kvm_segment segment = KvmSegmentFromGdt(entry, 2);
  EXPECT_EQ(segment.base, 0x12345678u);
  EXPECT_EQ(segment.limit, 0xabcdeu);
  EXPECT_EQ(segment.selector, 0x10);
  EXPECT_EQ(segment.type, 0x3);
  EXPECT_EQ(segment.s, 1);
  EXPECT_EQ(segment.db, 1);
  EXPECT_EQ(segment.g, 1);
  EXPECT_EQ(segment.l, 0);
}

TEST(GdtTest, SegmentsOfTheBootTable) {
  const kvm_segment code = KvmSegmentFromGdt(kBootGdt[1], 1);
  EXPECT_EQ(code.l, 1);
  EXPECT_EQ(code.db, 0);
  EXPECT_EQ(code.type, 0xb);
  EXPECT_EQ(code.present, 1);
  EXPECT_EQ(code.unusable, 0);
  const kvm_segment tss = KvmSegmentFromGdt(kBootGdt[3], 3);
  EXPECT_EQ(tss.s, 0);  // a system segment
  EXPECT_EQ(tss.type, 0xb);
  EXPECT_EQ(tss.selector, 0x18);
  const kvm_segment null = KvmSegmentFromGdt(kBootGdt[0], 0);
  EXPECT_EQ(null.unusable, 1);
}

TEST(GdtTest, WritesTheTableAndAnEmptyIdt) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(0x10000));
  ASSERT_OK(memory.Fill(GuestAddress(0), 0xee, 0x1000));
  ASSERT_OK(WriteBootGdtAndIdt(memory));
  for (size_t i = 0; i < kBootGdt.size(); ++i) {
    EXPECT_EQ(memory.Read<uint64_t>(GuestAddress(layout::kGdtStart + 8 * i)).value(), kBootGdt[i]);
  }
  EXPECT_EQ(memory.Read<uint64_t>(GuestAddress(layout::kIdtStart)).value(), 0u);
}

}  // namespace
}  // namespace vmmd
