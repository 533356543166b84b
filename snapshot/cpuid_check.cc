#include "snapshot/cpuid_check.h"

#include <cstdint>

#include "absl/strings/str_format.h"

namespace vmmd::snapshot {
namespace {

enum Register { kEax, kEbx, kEcx, kEdx };

struct FeatureWord {
  uint32_t function;
  uint32_t index;
  Register reg;
  // Bits KVM itself flips while the guest runs (from CR4 or the APIC base MSR): they say
  // nothing of the host.
  uint32_t dynamic;
};

constexpr uint32_t kOsxsave = 1u << 27;  // leaf 1 ECX: CR4.OSXSAVE
constexpr uint32_t kApic = 1u << 9;      // leaf 1 EDX: IA32_APIC_BASE enable
constexpr uint32_t kOspke = 1u << 4;     // leaf 7 ECX: CR4.PKE

constexpr FeatureWord kFeatureWords[] = {
    {0x1, 0, kEcx, kOsxsave},  {0x1, 0, kEdx, kApic},   {0x7, 0, kEbx, 0},
    {0x7, 0, kEcx, kOspke},    {0x7, 0, kEdx, 0},       {0xd, 0, kEax, 0},
    {0xd, 0, kEdx, 0},         {0xd, 1, kEax, 0},       {0x80000001, 0, kEcx, 0},
    {0x80000001, 0, kEdx, 0},
};

const char* RegisterName(Register reg) {
  switch (reg) {
    case kEax: return "EAX";
    case kEbx: return "EBX";
    case kEcx: return "ECX";
    case kEdx: return "EDX";
  }
  return "?";
}

uint32_t Value(const kvm_cpuid_entry2& entry, Register reg) {
  switch (reg) {
    case kEax: return entry.eax;
    case kEbx: return entry.ebx;
    case kEcx: return entry.ecx;
    case kEdx: return entry.edx;
  }
  return 0;
}

// Leaves whose subleaves differ (KVM_CPUID_FLAG_SIGNIFCANT_INDEX) match on the index too.
const kvm_cpuid_entry2* Find(absl::Span<const kvm_cpuid_entry2> entries, uint32_t function,
                             uint32_t index) {
  for (const kvm_cpuid_entry2& entry : entries) {
    if (entry.function != function) continue;
    if ((entry.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) != 0 && entry.index != index) continue;
    return &entry;
  }
  return nullptr;
}

}  // namespace

absl::Status CheckCpuidOffered(absl::Span<const kvm_cpuid_entry2> saved,
                               absl::Span<const kvm_cpuid_entry2> offered,
                               absl::string_view where) {
  const kvm_cpuid_entry2* saved_vendor = Find(saved, 0, 0);
  const kvm_cpuid_entry2* host_vendor = Find(offered, 0, 0);
  if (saved_vendor != nullptr && host_vendor != nullptr &&
      (saved_vendor->ebx != host_vendor->ebx || saved_vendor->ecx != host_vendor->ecx ||
       saved_vendor->edx != host_vendor->edx)) {
    auto vendor = [](const kvm_cpuid_entry2& entry) {
      const uint32_t words[] = {entry.ebx, entry.edx, entry.ecx};
      return std::string(reinterpret_cast<const char*>(words), sizeof(words));
    };
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: the snapshot's CPU is %s; this host's is %s", where,
                        vendor(*saved_vendor), vendor(*host_vendor)));
  }
  for (const FeatureWord& word : kFeatureWords) {
    const kvm_cpuid_entry2* entry = Find(saved, word.function, word.index);
    if (entry == nullptr) continue;
    const kvm_cpuid_entry2* host = Find(offered, word.function, word.index);
    const uint32_t here = host == nullptr ? 0 : Value(*host, word.reg);
    const uint32_t missing = Value(*entry, word.reg) & ~(here | word.dynamic);
    if (missing != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: CPUID leaf %#x.%d %s has features %#010x that this host does not offer (it "
          "offers %#010x): restore on a host with the same CPU features",
          where, word.function, word.index, RegisterName(word.reg), missing, here));
    }
  }
  return absl::OkStatus();
}

}  // namespace vmmd::snapshot
