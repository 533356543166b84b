// Internal to kvm/: the kernel's layout for ioctl arguments that end in a flexible array
// (struct kvm_cpuid2, struct kvm_msrs, struct kvm_msr_list, struct kvm_xsave).
//
// Why not the UAPI structs: Debian 12's <linux/kvm.h> (Linux 6.1) declares those arrays with
// __DECLARE_FLEX_ARRAY, which C++ compiles with an extra byte. sizeof(kvm_cpuid2) becomes 12
// instead of the kernel's 8, the array moves to offset 12, and the ioctl numbers built from
// those sizes are ones KVM does not know (it answers EINVAL). So these ioctls use the
// C layout, spelled out here: an 8-byte header {count, padding}, then the entries.
#ifndef VMMD_KVM_KVM_FLEX_ARRAY_H_
#define VMMD_KVM_KVM_FLEX_ARRAY_H_

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/types/span.h"

namespace vmmd::kvm_internal {

struct KvmFlexHeader {
  uint32_t count;    // nent / nmsrs
  uint32_t padding;
};
static_assert(sizeof(KvmFlexHeader) == 8);

inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmFlexHeader);
inline constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, KvmFlexHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmFlexHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmFlexHeader);
inline constexpr unsigned long kKvmGetCpuid2 = _IOWR(KVMIO, 0x91, KvmFlexHeader);
// struct kvm_msr_list's header is one u32 (nmsrs), then the indices.
inline constexpr unsigned long kKvmGetMsrIndexList = _IOWR(KVMIO, 0x02, uint32_t);
// struct kvm_xsave is 4 KiB in C (region[1024] and an empty flexible array); larger areas
// (KVM_CAP_XSAVE2) keep the 4 KiB number and say their size through the capability.
struct KvmXsaveHeader {
  uint32_t region[1024];
};
inline constexpr unsigned long kKvmGetXsave = _IOR(KVMIO, 0xa4, KvmXsaveHeader);
inline constexpr unsigned long kKvmSetXsave = _IOW(KVMIO, 0xa5, KvmXsaveHeader);
inline constexpr unsigned long kKvmGetXsave2 = _IOR(KVMIO, 0xcf, KvmXsaveHeader);
static_assert(kKvmGetMsrIndexList == 0xc004ae02);
static_assert(kKvmGetXsave == 0x9000aea4);
static_assert(kKvmSetXsave == 0x5000aea5);
static_assert(kKvmGetXsave2 == 0x9000aecf);
// The values the kernel defines (as a C compiler computes them).
static_assert(kKvmGetSupportedCpuid == 0xc008ae05);
static_assert(kKvmSetMsrs == 0x4008ae89);
static_assert(kKvmSetCpuid2 == 0x4008ae90);

// A header followed by `capacity` entries of type Entry, in one 8-byte-aligned buffer.
template <typename Entry>
class KvmFlexArray {
 public:
  explicit KvmFlexArray(size_t capacity)
      : words_((sizeof(KvmFlexHeader) + capacity * sizeof(Entry) + 7) / 8, 0) {
    header()->count = static_cast<uint32_t>(capacity);
  }
  explicit KvmFlexArray(absl::Span<const Entry> entries) : KvmFlexArray(entries.size()) {
    if (!entries.empty()) std::memcpy(data(), entries.data(), entries.size() * sizeof(Entry));
  }

  KvmFlexHeader* header() { return reinterpret_cast<KvmFlexHeader*>(words_.data()); }
  Entry* data() { return reinterpret_cast<Entry*>(words_.data() + 1); }
  void* ioctl_arg() { return words_.data(); }

  // The first `count` entries (count as the kernel left it in the header).
  std::vector<Entry> Entries() { return std::vector<Entry>(data(), data() + header()->count); }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace vmmd::kvm_internal

#endif  // VMMD_KVM_KVM_FLEX_ARRAY_H_
