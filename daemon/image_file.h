// ImageFile: a kernel or initrd image a client named by path, opened once, only from under
// the daemon's image roots, and read through that one fd.
#ifndef VMMD_DAEMON_IMAGE_FILE_H_
#define VMMD_DAEMON_IMAGE_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"
#include "boot/image_reader.h"

namespace vmmd {

class ImageFile : public ImageReader {
 public:
  // Opens `path` (absolute) read-only if it lies under one of `roots` (absolute, canonical
  // directories), resolving it beneath that root: symlinks may not lead out of it
  // (openat2 RESOLVE_BENEATH). `field` names the request field in errors.
  //   INVALID_ARGUMENT: empty or relative path, not a regular file, larger than max_size;
  //   PERMISSION_DENIED: not under an image root, or escaping it;
  //   NOT_FOUND: no such file.
  static absl::StatusOr<ImageFile> Open(absl::string_view path,
                                        absl::Span<const std::string> roots, uint64_t max_size,
                                        absl::string_view field);

  ImageFile(ImageFile&&) = default;
  ImageFile& operator=(ImageFile&&) = default;

  uint64_t size() const override { return size_; }
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> destination) const override;
  absl::StatusOr<std::vector<uint8_t>> ReadAll() const;

 private:
  ImageFile(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}
  UniqueFd fd_;
  uint64_t size_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_IMAGE_FILE_H_
