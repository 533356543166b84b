// ImageReader: checked, positioned reads from a kernel or initrd image. The daemon reads
// files through an fd it opened once; tests and fuzzers read bytes in memory.
#ifndef VMMD_BOOT_IMAGE_READER_H_
#define VMMD_BOOT_IMAGE_READER_H_

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "kvm/guest_memory.h"

namespace vmmd {

class ImageReader {
 public:
  virtual ~ImageReader() = default;
  virtual uint64_t size() const = 0;
  // Fills `destination` from `offset`. INVALID_ARGUMENT if the image ends before
  // offset + destination.size() (a truncated or lying image).
  virtual absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> destination) const = 0;

 protected:
  // The range check every implementation starts with.
  absl::Status CheckRange(uint64_t offset, uint64_t length) const {
    if (offset > size() || length > size() - offset) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "image is %d bytes; bytes [%d, +%d) lie beyond its end", size(), offset, length));
    }
    return absl::OkStatus();
  }
};

// Reads image bytes [offset, +length) straight into guest memory at `address` (one region):
// no buffer in between, so concurrent loads hold no memory beyond the guests' own.
inline absl::Status ReadImageIntoGuest(const ImageReader& image, uint64_t offset,
                                       uint64_t length, GuestMemory& memory,
                                       GuestAddress address) {
  return memory.FillInPlace(address, length, [&](absl::Span<uint8_t> destination) {
    return image.ReadAt(offset, destination);
  });
}

class BytesImageReader : public ImageReader {
 public:
  explicit BytesImageReader(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> destination) const override {
    absl::Status status = CheckRange(offset, destination.size());
    if (!status.ok()) return status;
    if (!destination.empty()) std::memcpy(destination.data(), bytes_.data() + offset, destination.size());
    return absl::OkStatus();
  }

 private:
  absl::Span<const uint8_t> bytes_;
};

}  // namespace vmmd

#endif  // VMMD_BOOT_IMAGE_READER_H_
