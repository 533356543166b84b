#include "devices/test_exit.h"

#include <algorithm>
#include <cstring>

namespace vmmd {

void TestExit::Read(uint16_t offset, absl::Span<uint8_t> data) {
  // Nothing to read: the port floats high, like an unclaimed one.
  if (!data.empty()) std::memset(data.data(), 0xff, data.size());
}

void TestExit::Write(uint16_t offset, absl::Span<const uint8_t> data) {
  // Only a write starting at the base port is an exit request; a stray byte at 0xf5-0xf7
  // is dropped rather than stopping the VM with a meaningless code.
  if (offset != 0 || data.empty()) return;
  // x86 port I/O is little-endian; take up to 4 bytes and zero-extend.
  uint32_t value = 0;
  for (size_t i = std::min<size_t>(data.size(), sizeof(value)); i > 0; --i) {
    value = (value << 8) | data[i - 1];
  }
  if (on_exit_) on_exit_(value);
}

}  // namespace vmmd
