#include "daemon/host_info.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;

kvm_cpuid_entry2 Leaf(uint32_t function, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 entry = {};
  entry.function = function;
  entry.ebx = ebx;
  entry.ecx = ecx;
  entry.edx = edx;
  return entry;
}

TEST(CpuidFeatureNamesTest, NamesTheSetBitsInTableOrder) {
  const std::vector<kvm_cpuid_entry2> cpuid = {
      Leaf(7, /*ebx=*/1u << 5, 0, 0),                           // avx2
      Leaf(1, 0, /*ecx=*/(1u << 20) | (1u << 31), /*edx=*/1u << 26),  // sse4_2, hypervisor; sse2
      Leaf(0x80000001, 0, 0, /*edx=*/1u << 29),                 // lm
  };
  EXPECT_THAT(CpuidFeatureNames(cpuid), ElementsAre("sse2", "sse4_2", "hypervisor", "avx2", "lm"));
  EXPECT_TRUE(CpuidFeatureNames({}).empty());
}

TEST(CpuidFeatureNamesTest, OnlySubleafZeroCounts) {
  kvm_cpuid_entry2 subleaf1 = Leaf(7, 1u << 5, 0, 0);
  subleaf1.index = 1;
  EXPECT_TRUE(CpuidFeatureNames({subleaf1}).empty());
}

TEST(HostCpuTest, VendorIsTwelveCharactersAndModelIsTrimmed) {
  EXPECT_EQ(HostCpuVendor().size(), 12u);
  const std::string model = HostCpuModel();
  if (!model.empty()) {
    EXPECT_NE(model.front(), ' ');
    EXPECT_NE(model.back(), ' ');
  }
}

}  // namespace
}  // namespace vmmd
