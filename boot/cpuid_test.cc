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

// An AMD host's leaves as KVM offers them (an EPYC with 64 cores, SMT on): the VM's
// topology must replace the host's.
std::vector<kvm_cpuid_entry2> AmdSupported() {
  return {Leaf(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65),  // AuthenticAMD
          Leaf(1, 0, 0xa00f11, 0x3f800800, 0x7ef8320b, 0x178bfbff),
          Leaf(0x80000008, 0, 0x3030, 0x7, 0x0001703f, 0),
          Leaf(0x8000001d, 0, 0x4121, 0x1c0003f, 0x3f, 0),
          Leaf(0x8000001d, 1, 0x4122, 0x1c0003f, 0x3f, 0),
          Leaf(0x8000001e, 0, 0x25, 0x112, 0x301, 0)};
}

TEST(CpuidTest, AmdCoreCountAndTopologyAreTheVms) {
  const auto entries = NormalizeCpuid(AmdSupported(), /*apic_id=*/2, /*vcpu_count=*/3);
  const kvm_cpuid_entry2* size = Find(entries, 0x80000008);
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(size->ecx & 0xff, 2u) << "NC: cores - 1";
  EXPECT_EQ((size->ecx >> 12) & 0xf, 2u) << "ApicIdCoreIdSize: 2 bits for 3 cores";
  EXPECT_EQ(size->ecx & 0x30000, 0x10000u) << "PerfTscSize kept";
  EXPECT_EQ(size->eax, 0x3030u) << "address sizes kept";
  for (uint32_t index : {0u, 1u}) {
    const kvm_cpuid_entry2* cache = Find(entries, 0x8000001d, index);
    ASSERT_NE(cache, nullptr);
    EXPECT_EQ((cache->eax >> 14) & 0xfff, 0u) << "cache " << index << " shared by other cores";
    EXPECT_EQ(cache->eax, (0x4121u + index) & 0x3fff) << "the rest kept";
  }
  const kvm_cpuid_entry2* topology = Find(entries, 0x8000001e);
  ASSERT_NE(topology, nullptr);
  EXPECT_EQ(topology->eax, 2u) << "extended APIC id";
  EXPECT_EQ(topology->ebx, 2u) << "core id 2, one thread per core";
  EXPECT_EQ(topology->ecx, 0u) << "node 0, one node";
}

TEST(CpuidTest, IntelKeepsLeaf80000008Ecx) {
  std::vector<kvm_cpuid_entry2> supported = Supported();
  supported.push_back(Leaf(0x80000008, 0, 0x3027, 0, 0, 0));
  const auto entries = NormalizeCpuid(supported, 1, 4);
  EXPECT_EQ(Find(entries, 0x80000008)->ecx, 0u);
}

TEST(CpuidTest, OtherLeavesAreUntouched) {
  const auto entries = NormalizeCpuid(Supported(), 1, 2);
  EXPECT_EQ(entries.size(), Supported().size());
  EXPECT_EQ(Find(entries, 0)->ebx, 0x756e6547u);
}

}  // namespace
}  // namespace vmmd
