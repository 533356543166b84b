#include "boot/page_tables.h"

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::vmmd::testing::StatusIs;

uint64_t ReadU64(const GuestMemory& memory, uint64_t address) {
  return memory.Read<uint64_t>(GuestAddress(address)).value();
}

// dbs-boot test_setup_identity_mapping: the same golden words in 64 KiB of memory.
TEST(PageTablesTest, SeedGoldenWords) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(0x10000));
  ASSERT_OK_AND_ASSIGN(GuestAddress root, WriteIdentityPageTables(memory));
  EXPECT_EQ(root, GuestAddress(layout::kPml4Start));
  EXPECT_EQ(ReadU64(memory, layout::kPml4Start), 0xa003u);
  EXPECT_EQ(ReadU64(memory, layout::kPdptStart), 0xb003u);
  for (uint64_t i = 0; i < 512; ++i) {
    ASSERT_EQ(ReadU64(memory, layout::kPdStart + i * 8), (i << 21) + 0x83) << "PDE " << i;
  }
}

// Beyond the seeds: [1 GiB, 4 GiB) through three more page directories.
TEST(PageTablesTest, MapsFourGiBWithTwoMiBPages) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(0x10000));
  ASSERT_OK(WriteIdentityPageTables(memory).status());
  for (uint64_t gib = 0; gib < 4; ++gib) {
    EXPECT_EQ(ReadU64(memory, layout::kPdptStart + gib * 8), (0xb000 + gib * 0x1000) | 3);
  }
  EXPECT_EQ(ReadU64(memory, layout::kPdptStart + 4 * 8), 0u);  // nothing beyond 4 GiB
  // The last PDE maps the 2 MiB page holding the LAPIC at 0xfee00000.
  const uint64_t last = ReadU64(memory, layout::kPdStart + 4 * 0x1000 - 8);
  EXPECT_EQ(last, (uint64_t{4} << 30) - (2 << 20) + 0x83);
  EXPECT_EQ(kIdentityMappedBytes, uint64_t{4} << 30);
}

// Translates `virt` through the written tables the way the MMU does.
uint64_t Translate(const GuestMemory& memory, uint64_t virt) {
  const uint64_t pml4e = ReadU64(memory, layout::kPml4Start + ((virt >> 39) & 511) * 8);
  const uint64_t pdpte = ReadU64(memory, (pml4e & ~0xfffull) + ((virt >> 30) & 511) * 8);
  const uint64_t pde = ReadU64(memory, (pdpte & ~0xfffull) + ((virt >> 21) & 511) * 8);
  EXPECT_TRUE(pde & kPtePageSize);
  return (pde & ~0x1fffffull) | (virt & 0x1fffff);
}

TEST(PageTablesTest, EveryBootAddressTranslatesToItself) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(0x10000));
  ASSERT_OK(WriteIdentityPageTables(memory).status());
  for (uint64_t address : {uint64_t{0}, layout::kZeroPageStart, layout::kCmdlineStart,
                           layout::kMpTableStart, layout::kHighMemStart, uint64_t{0xbffff000},
                           layout::kIoapicAddress, layout::kLapicAddress + 0x30}) {
    EXPECT_EQ(Translate(memory, address), address);
  }
}

TEST(PageTablesTest, MemoryTooSmallIsOutOfRange) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(0xc000));
  EXPECT_THAT(WriteIdentityPageTables(memory), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

}  // namespace
}  // namespace vmmd
