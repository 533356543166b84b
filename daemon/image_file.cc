#include "daemon/image_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "daemon/confined_open.h"

namespace vmmd {
absl::StatusOr<ImageFile> ImageFile::Open(absl::string_view path,
                                          absl::Span<const std::string> roots, uint64_t max_size,
                                          absl::string_view field) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenUnderImageRoot(path, roots, /*writable=*/false, field));
  struct stat info;
  if (::fstat(fd.get(), &info) != 0) return ::vmmd::ErrnoToStatus(errno, "fstat");
  if (static_cast<uint64_t>(info.st_size) > max_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s is %d bytes; the limit is %d bytes", field, path, info.st_size, max_size));
  }
  return ImageFile(std::move(fd), info.st_size);
}

absl::Status ImageFile::ReadAt(uint64_t offset, absl::Span<uint8_t> destination) const {
  RETURN_IF_ERROR(CheckRange(offset, destination.size()));
  size_t done = 0;
  while (done < destination.size()) {
    ssize_t n = ::pread(fd_.get(), destination.data() + done, destination.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ::vmmd::ErrnoToStatus(errno, "pread(image)");
    if (n == 0) return absl::InvalidArgumentError("image shrank while being read");
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> ImageFile::ReadAll() const {
  std::vector<uint8_t> bytes(size_);
  RETURN_IF_ERROR(ReadAt(0, absl::MakeSpan(bytes)));
  return bytes;
}

}  // namespace vmmd
