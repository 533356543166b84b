#include "devices/resource_allocator.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "boot/layout.h"

namespace vmmd {
namespace {

using layout::kDeviceIrqFirst;
using layout::kDeviceIrqLast;
using layout::kDeviceIrqsSkipped;
using layout::kDeviceMmioEnd;
using layout::kDeviceMmioSize;
using layout::kDeviceMmioStart;
using layout::kDeviceMmioWindowSize;

bool IsDeviceIrq(uint32_t irq) {
  return irq >= kDeviceIrqFirst && irq <= kDeviceIrqLast &&
         std::find(std::begin(kDeviceIrqsSkipped), std::end(kDeviceIrqsSkipped), irq) ==
             std::end(kDeviceIrqsSkipped);
}

// "lines 5-23 less 8 and 12": the device lines, for messages.
std::string DeviceIrqLines() {
  return absl::StrCat("lines ", kDeviceIrqFirst, "-", kDeviceIrqLast, " less ",
                      absl::StrJoin(kDeviceIrqsSkipped, " and "));
}

std::string DeviceMmioRange() {
  return absl::StrFormat("the devices' MMIO range [%#x, %#x)", kDeviceMmioStart,
                         kDeviceMmioEnd);
}

}  // namespace

absl::StatusOr<ResourceAllocator> ResourceAllocator::FromState(
    const ResourceAllocatorState& state) {
  ResourceAllocator allocator;
  ResourceAllocatorState& sorted = allocator.state_;
  sorted = state;
  std::sort(sorted.mmio_windows.begin(), sorted.mmio_windows.end(),
            [](const MmioWindow& a, const MmioWindow& b) { return a.base < b.base; });
  std::sort(sorted.irqs.begin(), sorted.irqs.end());

  for (size_t i = 0; i < sorted.mmio_windows.size(); ++i) {
    const MmioWindow& window = sorted.mmio_windows[i];
    const std::string name = absl::StrFormat("MMIO window [%#x, +%#x)", window.base, window.size);
    if (window.size == 0) return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
    if (window.base % kDeviceMmioWindowSize != 0 || window.size % kDeviceMmioWindowSize != 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is not whole, aligned pages"));
    }
    // Compares sizes, not ends: base + size may wrap.
    if (window.base < kDeviceMmioStart || window.base >= kDeviceMmioEnd ||
        window.size > kDeviceMmioEnd - window.base) {
      return absl::InvalidArgumentError(absl::StrCat(name, " lies outside ", DeviceMmioRange()));
    }
    if (i > 0 && sorted.mmio_windows[i - 1].end() > window.base) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "MMIO windows [%#x, +%#x) and [%#x, +%#x) overlap", sorted.mmio_windows[i - 1].base,
          sorted.mmio_windows[i - 1].size, window.base, window.size));
    }
  }
  for (size_t i = 0; i < sorted.irqs.size(); ++i) {
    if (!IsDeviceIrq(sorted.irqs[i])) {
      return absl::InvalidArgumentError(absl::StrCat("IRQ line ", sorted.irqs[i],
                                                     " is not a device line (",
                                                     DeviceIrqLines(), ")"));
    }
    if (i > 0 && sorted.irqs[i - 1] == sorted.irqs[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("IRQ line ", sorted.irqs[i], " is listed twice"));
    }
  }
  return allocator;
}

absl::StatusOr<MmioWindow> ResourceAllocator::AllocateMmio(uint64_t size) {
  if (size == 0) return absl::InvalidArgumentError("an MMIO window of 0 bytes was asked for");
  // Checked before rounding up, which could otherwise wrap.
  if (size > kDeviceMmioSize) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "an MMIO window of %#x bytes is larger than %s (%#x bytes)", size, DeviceMmioRange(),
        kDeviceMmioSize));
  }
  const uint64_t rounded = (size + kDeviceMmioWindowSize - 1) / kDeviceMmioWindowSize *
                           kDeviceMmioWindowSize;
  // First fit, lowest address: the free stretch before each window in turn, then the one
  // after the last.
  uint64_t candidate = kDeviceMmioStart;
  auto next = state_.mmio_windows.begin();
  for (; next != state_.mmio_windows.end(); ++next) {
    if (next->base - candidate >= rounded) break;
    candidate = next->end();
  }
  if (next == state_.mmio_windows.end() && kDeviceMmioEnd - candidate < rounded) {
    uint64_t in_use = 0;
    for (const MmioWindow& window : state_.mmio_windows) in_use += window.size;
    return absl::ResourceExhaustedError(absl::StrFormat(
        "no free MMIO window of %#x bytes: %#x of the %#x bytes of %s are in use in %d "
        "windows",
        rounded, in_use, kDeviceMmioSize, DeviceMmioRange(), state_.mmio_windows.size()));
  }
  const MmioWindow window{candidate, rounded};
  state_.mmio_windows.insert(next, window);
  return window;
}

absl::StatusOr<uint32_t> ResourceAllocator::AllocateIrq() {
  // state_.irqs is ascending: walk it beside the candidate lines.
  auto used = state_.irqs.begin();
  for (uint32_t irq = kDeviceIrqFirst; irq <= kDeviceIrqLast; ++irq) {
    if (!IsDeviceIrq(irq)) continue;
    if (used != state_.irqs.end() && *used == irq) {
      ++used;
      continue;
    }
    state_.irqs.insert(used, irq);
    return irq;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "no free IRQ line: ", state_.irqs.size(), " in use, ", DeviceIrqLines()));
}

}  // namespace vmmd
