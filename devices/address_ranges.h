// AddressRanges: the claimed, non-overlapping ranges of one address space (I/O ports, or
// guest-physical MMIO addresses) and who claimed each. The shared core of IoBus and MmioBus:
// filled before any vCPU runs, then only read, so lookups take no lock.
#ifndef VMMD_DEVICES_ADDRESS_RANGES_H_
#define VMMD_DEVICES_ADDRESS_RANGES_H_

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace vmmd {

template <typename Device>
class AddressRanges {
 public:
  // `space_end`: one past the highest address (0x10000 for ports); 0 for the whole 64 bits.
  explicit AddressRanges(uint64_t space_end) : space_end_(space_end) {}

  // Claims [base, base + length) for `device` (not owned). INVALID_ARGUMENT for no device,
  // an empty range or one that runs past the space; ALREADY_EXISTS when it overlaps a claim.
  absl::Status Claim(uint64_t base, uint64_t length, Device* device) {
    if (device == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("no device given for [%#x, +%#x)", base, length));
    }
    const uint64_t last_allowed = space_end_ == 0 ? UINT64_MAX : space_end_ - 1;
    if (length == 0 || base > last_allowed || length - 1 > last_allowed - base) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "range %#x + %#x is empty or runs past %#x", base, length, last_allowed));
    }
    const uint64_t last = base + (length - 1);  // inclusive: a range may end at 2^64
    // The first range starting after `base`; the one before it may still reach `base`.
    auto next = std::upper_bound(ranges_.begin(), ranges_.end(), base,
                                 [](uint64_t b, const Range& range) { return b < range.base; });
    if (next != ranges_.end() && next->base <= last) return Overlap(base, last, *next);
    if (next != ranges_.begin() && std::prev(next)->last >= base) {
      return Overlap(base, last, *std::prev(next));
    }
    ranges_.insert(next, Range{base, last, device});
    return absl::OkStatus();
  }

  // The device whose range holds `address`, with `*offset` set to `address` minus its base;
  // nullptr if none.
  Device* Find(uint64_t address, uint64_t* offset) const {
    // The last range starting at or before `address` is the only one that can hold it.
    auto after = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                                  [](uint64_t a, const Range& range) { return a < range.base; });
    if (after == ranges_.begin()) return nullptr;
    const Range& range = *std::prev(after);
    if (address > range.last) return nullptr;
    *offset = address - range.base;
    return range.device;
  }

 private:
  struct Range {
    uint64_t base;
    uint64_t last;  // inclusive
    Device* device;
  };

  static absl::Status Overlap(uint64_t base, uint64_t last, const Range& claimed) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "[%#x, %#x] overlaps the device at [%#x, %#x]", base, last, claimed.base, claimed.last));
  }

  const uint64_t space_end_;
  std::vector<Range> ranges_;  // sorted by base
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_ADDRESS_RANGES_H_
