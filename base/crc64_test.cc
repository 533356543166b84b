#include "base/crc64.h"

#include <string>

#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(Crc64Test, MatchesTheStandardCheckValue) {
  // CRC-64/XZ's check value: the CRC of "123456789".
  EXPECT_EQ(Crc64("123456789"), 0x995D'C9BB'DF19'39FAu);
  EXPECT_EQ(Crc64(""), 0u);
}

TEST(Crc64Test, ContinuesOverPieces) {
  EXPECT_EQ(Crc64("6789", Crc64("12345")), Crc64("123456789"));
}

TEST(Crc64Test, EveryFlippedBitChangesIt) {
  std::string bytes(64, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  const uint64_t good = Crc64(bytes);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_NE(Crc64(flipped), good) << "byte " << i << " bit " << bit;
    }
  }
}

}  // namespace
}  // namespace vmmd
