#include "devices/io_bus.h"

#include <cstring>

namespace vmmd {

absl::Status IoBus::Register(uint16_t base, uint16_t length, PortIoDevice* device) {
  return ranges_.Claim(base, length, device);
}

bool IoBus::Read(uint16_t port, absl::Span<uint8_t> data) {
  uint64_t offset = 0;
  if (PortIoDevice* device = ranges_.Find(port, &offset)) {
    device->Read(static_cast<uint16_t>(offset), data);
    return true;
  }
  // An undecoded ISA port floats high: reads see all ones, as on PC hardware.
  if (!data.empty()) std::memset(data.data(), 0xff, data.size());
  unhandled_reads_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool IoBus::Write(uint16_t port, absl::Span<const uint8_t> data) {
  uint64_t offset = 0;
  if (PortIoDevice* device = ranges_.Find(port, &offset)) {
    device->Write(static_cast<uint16_t>(offset), data);
    return true;
  }
  unhandled_writes_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace vmmd
