#include "devices/mmio_bus.h"

#include <cstring>

namespace vmmd {

bool MmioBus::Read(uint64_t address, absl::Span<uint8_t> data) {
  uint64_t offset = 0;
  if (MmioDevice* device = ranges_.Find(address, &offset)) {
    device->Read(offset, data);
    return true;
  }
  if (!data.empty()) std::memset(data.data(), 0xff, data.size());
  unhandled_reads_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool MmioBus::Write(uint64_t address, absl::Span<const uint8_t> data) {
  uint64_t offset = 0;
  if (MmioDevice* device = ranges_.Find(address, &offset)) {
    device->Write(offset, data);
    return true;
  }
  unhandled_writes_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace vmmd
