// Internal to kvm/: the kernel's layout for ioctl arguments that end in a flexible array
// (struct kvm_cpuid2, struct kvm_msrs).
//
// Why not the UAPI structs: Debian 12's <linux/kvm.h> (Linux 6.1) declares those arrays with
// __DECLARE_FLEX_ARRAY, which C++ compiles with an extra byte. sizeof(kvm_cpuid2) becomes 12
// instead of the kernel's 8, the array moves to offset 12, and the ioctl numbers built from
// those sizes are ones KVM does not know (it answers EINVAL). So these five ioctls use the
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
