// GuestAddress: a guest-physical address, kept apart from host pointers and plain integers.
#ifndef VMMD_KVM_GUEST_ADDRESS_H_
#define VMMD_KVM_GUEST_ADDRESS_H_

#include <cstdint>
#include <optional>

namespace vmmd {

class GuestAddress {
 public:
  constexpr GuestAddress() = default;
  constexpr explicit GuestAddress(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }

  // this + offset, or nullopt if the sum wraps past 2^64.
  constexpr std::optional<GuestAddress> CheckedAdd(uint64_t offset) const {
    uint64_t sum = 0;
    if (__builtin_add_overflow(value_, offset, &sum)) return std::nullopt;
    return GuestAddress(sum);
  }

  // For offsets known to fit (layout constants); callers with untrusted offsets use CheckedAdd.
  constexpr GuestAddress UncheckedAdd(uint64_t offset) const {
    return GuestAddress(value_ + offset);
  }

  constexpr GuestAddress AlignDown(uint64_t alignment) const {
    return GuestAddress(value_ & ~(alignment - 1));
  }

  friend constexpr bool operator==(GuestAddress a, GuestAddress b) { return a.value_ == b.value_; }
  friend constexpr bool operator!=(GuestAddress a, GuestAddress b) { return a.value_ != b.value_; }
  friend constexpr bool operator<(GuestAddress a, GuestAddress b) { return a.value_ < b.value_; }
  friend constexpr bool operator<=(GuestAddress a, GuestAddress b) { return a.value_ <= b.value_; }

 private:
  uint64_t value_ = 0;
};

}  // namespace vmmd

#endif  // VMMD_KVM_GUEST_ADDRESS_H_
