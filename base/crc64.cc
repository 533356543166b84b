#include "base/crc64.h"

#include <array>

namespace vmmd {
namespace {

constexpr uint64_t kPolynomial = 0xC96C'5795'D787'0F42;  // 0x42F0E1EBA9EA3693, reflected

constexpr std::array<uint64_t, 256> MakeTable() {
  std::array<uint64_t, 256> table{};
  for (uint64_t byte = 0; byte < 256; ++byte) {
    uint64_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomial : 0);
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint64_t, 256> kTable = MakeTable();

}  // namespace

uint64_t Crc64(absl::string_view bytes, uint64_t crc) {
  crc = ~crc;
  for (const char c : bytes) crc = kTable[(crc ^ static_cast<uint8_t>(c)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace vmmd
