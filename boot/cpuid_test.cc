#include "boot/cpuid.h"

#include <vector>

#include "gtest/gtest.h"

namespace vmmd {
namespace {

kvm_cpuid_entry2 Leaf(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx,
                      uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 entry = {};
  entry.function = function;
  entry.index = index;
  entry.eax = eax;
  entry.ebx = ebx;
  entry.ecx = ecx;
  entry.edx = edx;
  return entry;
}

const kvm_cpuid_entry2* Find(const std::vector<kvm_cpuid_entry2>& entries, uint32_t function,
                             uint32_t index = 0) {
  for (const kvm_cpuid_entry2& entry : entries) {
    if (entry.function == function && entry.index == index) return &entry;
  }
  return nullptr;
}

std::vector<kvm_cpuid_entry2> Supported() {
  return {Leaf(0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69),
          Leaf(1, 0, 0x806c1, 0xff0800, 0x7ffaf3bf, 0x1fabfbff),
          Leaf(4, 0, 0x1c004121, 0x1c0003f, 0x3f, 0),
          Leaf(4, 1, 0, 0, 0, 0),
          Leaf(0xb, 0, 1, 2, 0x100, 7),
          Leaf(0xb, 1, 4, 8, 0x201, 7),
          Leaf(0xb, 2, 0, 0, 2, 7)};
}

TEST(CpuidTest, LeafOneCarriesApicIdCountAndHypervisorBit) {
  const auto entries = NormalizeCpuid(Supported(), /*apic_id=*/5, /*vcpu_count=*/8);
  const kvm_cpuid_entry2* leaf1 = Find(entries, 1);
  ASSERT_NE(leaf1, nullptr);
  EXPECT_EQ(leaf1->ebx >> 24, 5u);
  EXPECT_EQ((leaf1->ebx >> 16) & 0xff, 8u);
  EXPECT_EQ(leaf1->ebx & 0xffff, 0x0800u);  // CLFLUSH size and brand index kept
  EXPECT_TRUE(leaf1->ecx & kCpuid1EcxHypervisor);
  EXPECT_TRUE(leaf1->edx & kCpuid1EdxHtt);
  EXPECT_EQ(leaf1->eax, 0x806c1u);  // signature untouched
}

TEST(CpuidTest, SingleVcpuHasNoHtt) {
  const auto entries = NormalizeCpuid(Supported(), 0, 1);
  EXPECT_FALSE(Find(entries, 1)->edx & kCpuid1EdxHtt);
  EXPECT_EQ((Find(entries, 1)->ebx >> 16) & 0xff, 1u);
}

TEST(CpuidTest, LeafElevenDescribesOneCorePerVcpu) {
  const auto entries = NormalizeCpuid(Supported(), 3, 6);
  const kvm_cpuid_entry2* smt = Find(entries, 0xb, 0);
  const kvm_cpuid_entry2* core = Find(entries, 0xb, 1);
  const kvm_cpuid_entry2* invalid = Find(entries, 0xb, 2);
  EXPECT_EQ(smt->edx, 3u);
  EXPECT_EQ(smt->ebx, 1u);
  EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u);
  EXPECT_EQ(core->edx, 3u);
  EXPECT_EQ(core->eax, 3u);  // 6 cores need 3 bits of id
  EXPECT_EQ(core->ebx, 6u);
  EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
  EXPECT_EQ(invalid->edx, 3u);
  EXPECT_EQ((invalid->ecx >> 8) & 0xff, 0u);
}

TEST(CpuidTest, LeafFourCountsCores) {
  const auto entries = NormalizeCpuid(Supported(), 0, 4);
  EXPECT_EQ(Find(entries, 4, 0)->eax >> 26, 3u);
  EXPECT_EQ((Find(entries, 4, 0)->eax >> 14) & 0xfff, 0u);
  EXPECT_EQ(Find(entries, 4, 0)->eax & 0x3fff, 0x0121u);  // cache level and type kept
  EXPECT_EQ(Find(entries, 4, 1)->eax, 0u);                // the terminator stays empty
}

TEST(CpuidTest, OtherLeavesAreUntouched) {
  const auto entries = NormalizeCpuid(Supported(), 1, 2);
  EXPECT_EQ(entries.size(), Supported().size());
  EXPECT_EQ(Find(entries, 0)->ebx, 0x756e6547u);
}

}  // namespace
}  // namespace vmmd
