#include "snapshot/cpuid_check.h"

#include <vector>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::snapshot {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

kvm_cpuid_entry2 Entry(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx,
                       uint32_t ecx, uint32_t edx, bool indexed = false) {
  kvm_cpuid_entry2 entry = {};
  entry.function = function;
  entry.index = index;
  entry.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  entry.eax = eax;
  entry.ebx = ebx;
  entry.ecx = ecx;
  entry.edx = edx;
  return entry;
}

// "GenuineIntel" as leaf 0 spells it: EBX "Genu", EDX "ineI", ECX "ntel".
constexpr uint32_t kGenu = 0x756e6547, kIneI = 0x49656e69, kNtel = 0x6c65746e;
// "AuthenticAMD": EBX "Auth", EDX "enti", ECX "cAMD".
constexpr uint32_t kAuth = 0x68747541, kEnti = 0x69746e65, kCamd = 0x444d4163;

std::vector<kvm_cpuid_entry2> Host() {
  return {Entry(0, 0, 0xd, kGenu, kNtel, kIneI),
          Entry(1, 0, 0x806f8, 0, 0x7ffafbff & ~(1u << 27), 0xbfebfbff),
          Entry(7, 0, 0, 0x219c07ab, 0x4, 0x10, true),
          Entry(0xd, 0, 0x7, 0, 0, 0, true),
          Entry(0xd, 1, 0xf, 0, 0, 0, true),
          Entry(0x80000001, 0, 0, 0, 0x121, 0x2c100800)};
}

TEST(CpuidCheckTest, TheSameFeaturesPass) {
  EXPECT_THAT(CheckCpuidOffered(Host(), Host(), "vcpus[0]"), IsOk());
}

TEST(CpuidCheckTest, FewerFeaturesPass) {
  std::vector<kvm_cpuid_entry2> saved = Host();
  saved[2].ebx &= ~0x200u;  // a guest shown less than the host has runs anywhere it did
  EXPECT_THAT(CheckCpuidOffered(saved, Host(), "vcpus[0]"), IsOk());
}

TEST(CpuidCheckTest, BitsKvmFlipsAtRunTimeAreNotCompared) {
  std::vector<kvm_cpuid_entry2> saved = Host();
  saved[1].ecx |= 1u << 27;  // OSXSAVE: the guest set CR4.OSXSAVE
  saved[2].ecx |= 1u << 4;   // OSPKE
  std::vector<kvm_cpuid_entry2> host = Host();
  host[1].edx &= ~(1u << 9);  // APIC
  EXPECT_THAT(CheckCpuidOffered(saved, host, "vcpus[0]"), IsOk());
}

TEST(CpuidCheckTest, AFeatureTheHostLacksIsNamed) {
  std::vector<kvm_cpuid_entry2> host = Host();
  host[2].ebx &= ~(1u << 5);  // AVX2
  EXPECT_THAT(CheckCpuidOffered(Host(), host, "vcpus[1]"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("vcpus[1]"), HasSubstr("leaf 0x7.0 EBX"),
                             HasSubstr("0x00000020"))));
}

TEST(CpuidCheckTest, EachFeatureWordIsCompared) {
  struct Case {
    size_t entry;
    uint32_t kvm_cpuid_entry2::*reg;
    const char* name;
  };
  const Case cases[] = {
      {1, &kvm_cpuid_entry2::ecx, "leaf 0x1.0 ECX"},   {1, &kvm_cpuid_entry2::edx, "leaf 0x1.0 EDX"},
      {2, &kvm_cpuid_entry2::ecx, "leaf 0x7.0 ECX"},   {2, &kvm_cpuid_entry2::edx, "leaf 0x7.0 EDX"},
      {3, &kvm_cpuid_entry2::eax, "leaf 0xd.0 EAX"},   {4, &kvm_cpuid_entry2::eax, "leaf 0xd.1 EAX"},
      {5, &kvm_cpuid_entry2::ecx, "leaf 0x80000001.0 ECX"},
      {5, &kvm_cpuid_entry2::edx, "leaf 0x80000001.0 EDX"},
  };
  for (const Case& c : cases) {
    std::vector<kvm_cpuid_entry2> host = Host();
    host[c.entry].*c.reg &= ~1u;
    std::vector<kvm_cpuid_entry2> saved = Host();
    saved[c.entry].*c.reg |= 1u;
    EXPECT_THAT(CheckCpuidOffered(saved, host, "vcpus[0]"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(c.name)))
        << c.name;
  }
}

TEST(CpuidCheckTest, ALeafTheHostLacksOffersNothing) {
  std::vector<kvm_cpuid_entry2> host = Host();
  host.pop_back();  // no 0x80000001
  EXPECT_THAT(CheckCpuidOffered(Host(), host, "vcpus[0]"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("leaf 0x80000001.0 ECX")));
}

TEST(CpuidCheckTest, AnotherVendorIsRefused) {
  std::vector<kvm_cpuid_entry2> host = Host();
  host[0] = Entry(0, 0, 0xd, kAuth, kCamd, kEnti);
  EXPECT_THAT(CheckCpuidOffered(Host(), host, "vcpus[0]"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("GenuineIntel"), HasSubstr("AuthenticAMD"))));
}

}  // namespace
}  // namespace vmmd::snapshot
