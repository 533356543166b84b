#include "devices/io_bus.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "absl/strings/str_format.h"

namespace vmmd {
namespace {

// x86 has a 16-bit I/O port space (Intel SDM Vol. 1, 18.2 "I/O Port Addressing").
constexpr uint32_t kPortSpaceEnd = 0x10000;

}  // namespace

absl::Status IoBus::Register(uint16_t base, uint16_t length, PortIoDevice* device) {
  if (device == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("no device given for ports [%#x, +%#x)", base, length));
  }
  const uint32_t end = uint32_t{base} + length;
  if (length == 0 || end > kPortSpaceEnd) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "port range %#x + %#x is empty or runs past port 0xffff", base, length));
  }
  // The first range starting at or after `base`; the one before it may still reach `base`.
  auto next = std::lower_bound(ranges_.begin(), ranges_.end(), base,
                               [](const Range& range, uint16_t b) { return range.base < b; });
  if (next != ranges_.end() && next->base < end) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "ports [%#x, %#x) overlap the device at [%#x, %#x)", base, end, next->base, next->end));
  }
  if (next != ranges_.begin()) {
    const Range& previous = *std::prev(next);
    if (previous.end > base) {
      return absl::AlreadyExistsError(
          absl::StrFormat("ports [%#x, %#x) overlap the device at [%#x, %#x)", base, end,
                          previous.base, previous.end));
    }
  }
  ranges_.insert(next, Range{base, end, device});
  return absl::OkStatus();
}

PortIoDevice* IoBus::Find(uint16_t port, uint16_t* offset) const {
  // The last range starting at or before `port` is the only one that can hold it.
  auto after = std::upper_bound(ranges_.begin(), ranges_.end(), port,
                                [](uint16_t p, const Range& range) { return p < range.base; });
  if (after == ranges_.begin()) return nullptr;
  const Range& range = *std::prev(after);
  if (port >= range.end) return nullptr;
  *offset = static_cast<uint16_t>(port - range.base);
  return range.device;
}

bool IoBus::Read(uint16_t port, absl::Span<uint8_t> data) {
  uint16_t offset = 0;
  if (PortIoDevice* device = Find(port, &offset)) {
    device->Read(offset, data);
    return true;
  }
  // An undecoded ISA port floats high: reads see all ones, as on PC hardware.
  if (!data.empty()) std::memset(data.data(), 0xff, data.size());
  unhandled_reads_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool IoBus::Write(uint16_t port, absl::Span<const uint8_t> data) {
  uint16_t offset = 0;
  if (PortIoDevice* device = Find(port, &offset)) {
    device->Write(offset, data);
    return true;
  }
  unhandled_writes_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace vmmd
