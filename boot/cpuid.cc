#include "boot/cpuid.h"

#include <algorithm>

namespace vmmd {
namespace {

// Extended topology level types (leaf 0xB ECX[15:8]).
constexpr uint32_t kLevelInvalid = 0;
constexpr uint32_t kLevelSmt = 1;
constexpr uint32_t kLevelCore = 2;

// Bits of x2APIC id needed to number `count` cores (leaf 0xB EAX[4:0]).
uint32_t IdShift(uint32_t count) {
  uint32_t shift = 0;
  while ((1u << shift) < count) ++shift;
  return shift;
}

void SetTopologyLevel(kvm_cpuid_entry2& entry, uint32_t apic_id, uint32_t vcpu_count) {
  entry.edx = apic_id;
  switch (entry.index) {
    case 0:  // SMT: one thread per core
      entry.eax = 0;
      entry.ebx = 1;
      entry.ecx = (kLevelSmt << 8) | entry.index;
      break;
    case 1:  // core: all vCPUs in one package
      entry.eax = IdShift(vcpu_count);
      entry.ebx = vcpu_count;
      entry.ecx = (kLevelCore << 8) | entry.index;
      break;
    default:
      entry.eax = 0;
      entry.ebx = 0;
      entry.ecx = (kLevelInvalid << 8) | entry.index;
      break;
  }
}

// Leaf 0's vendor string (EBX, EDX, ECX) is AMD's or Hygon's, whose extended leaves carry
// the core count and topology.
bool IsAmdLike(absl::Span<const kvm_cpuid_entry2> entries) {
  for (const kvm_cpuid_entry2& entry : entries) {
    if (entry.function != 0) continue;
    const bool amd = entry.ebx == 0x68747541 && entry.edx == 0x69746e65 && entry.ecx == 0x444d4163;
    const bool hygon = entry.ebx == 0x6f677948 && entry.edx == 0x6e65476e && entry.ecx == 0x656e6975;
    return amd || hygon;
  }
  return false;
}

}  // namespace

std::vector<kvm_cpuid_entry2> NormalizeCpuid(absl::Span<const kvm_cpuid_entry2> supported,
                                             uint32_t apic_id, uint32_t vcpu_count) {
  std::vector<kvm_cpuid_entry2> entries(supported.begin(), supported.end());
  const uint32_t logical = std::min<uint32_t>(vcpu_count, 0xff);
  const bool amd = IsAmdLike(supported);
  for (kvm_cpuid_entry2& entry : entries) {
    switch (entry.function) {
      case 1:
        entry.ebx = (entry.ebx & 0x0000ffff) | ((apic_id & 0xff) << 24) | (logical << 16);
        entry.ecx |= kCpuid1EcxHypervisor;
        if (vcpu_count > 1) {
          entry.edx |= kCpuid1EdxHtt;
        } else {
          entry.edx &= ~kCpuid1EdxHtt;
        }
        break;
      case 4:
        if ((entry.eax & 0x1f) != 0) {  // EAX[4:0] == 0: no more caches
          const uint32_t cores_minus_one = std::min<uint32_t>(vcpu_count - 1, 63);
          entry.eax = (entry.eax & 0x3fff) | (cores_minus_one << 26);
        }
        break;
      case 0xb:
      case 0x1f:
        SetTopologyLevel(entry, apic_id, vcpu_count);
        break;
      case 0x80000008:
        if (amd) {  // ECX: [7:0] cores - 1, [15:12] APIC id bits for the core; [17:16] kept
          entry.ecx = (entry.ecx & 0x30000) | (IdShift(vcpu_count) << 12) | (logical - 1);
        }
        break;
      case 0x8000001d:  // AMD's cache topology, as leaf 4: each cache private to its core
        if ((entry.eax & 0x1f) != 0) entry.eax &= ~(0xfffu << 14);
        break;
      case 0x8000001e:  // AMD's extended APIC id: one thread per core, one node
        entry.eax = apic_id;
        entry.ebx = apic_id & 0xff;  // [7:0] core id, [15:8] threads per core - 1 = 0
        entry.ecx = 0;               // [7:0] node id, [10:8] nodes per package - 1
        entry.edx = 0;
        break;
      default:
        break;
    }
  }
  return entries;
}

}  // namespace vmmd
