// FdpEncoder: writes the input bytes that make a FuzzedDataProvider return chosen values, so
// that seeds for FDP-driven fuzzers say what they mean. It mirrors FuzzedDataProvider.h
// (LLVM 14): integers are taken from the end of the data, most significant byte first, as
// many bytes as the range needs; byte strings from the front. The encoder must be called in
// the order the fuzzer consumes.
#ifndef VMMD_TESTS_FUZZ_FDP_ENCODER_H_
#define VMMD_TESTS_FUZZ_FDP_ENCODER_H_

#include <climits>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace vmmd::fuzz {

class FdpEncoder {
 public:
  // What ConsumeIntegralInRange<T>(min, max) is to return: `value` in [min, max].
  template <typename T>
  FdpEncoder& IntegralInRange(T min, T max, T value) {
    static_assert(std::is_integral_v<T> && sizeof(T) <= sizeof(uint64_t));
    const uint64_t range = static_cast<uint64_t>(max) - static_cast<uint64_t>(min);
    const uint64_t offset = static_cast<uint64_t>(value) - static_cast<uint64_t>(min);
    int bytes = 0;
    for (size_t shift = 0; shift < sizeof(T) * CHAR_BIT && (range >> shift) > 0; shift += CHAR_BIT) {
      ++bytes;
    }
    // Read last byte first, and each byte read becomes the low byte of the result so far.
    for (int i = bytes - 1; i >= 0; --i) tail_.push_back(static_cast<uint8_t>(offset >> (8 * i)));
    return *this;
  }
  template <typename T>
  FdpEncoder& Integral(T value) {
    return IntegralInRange<T>(std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), value);
  }
  FdpEncoder& Bool(bool value) { return Integral<uint8_t>(value ? 1 : 0); }
  // ConsumeBytes<uint8_t>(bytes.size()) and, last, ConsumeRemainingBytes.
  FdpEncoder& Bytes(const std::vector<uint8_t>& bytes) {
    front_.insert(front_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  FdpEncoder& Bytes(const std::string& bytes) {
    front_.insert(front_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  std::vector<uint8_t> Finish() const {
    std::vector<uint8_t> data = front_;
    data.insert(data.end(), tail_.rbegin(), tail_.rend());
    return data;
  }

 private:
  std::vector<uint8_t> front_;
  std::vector<uint8_t> tail_;  // in the order the provider reads it (from the end)
};

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_FDP_ENCODER_H_
