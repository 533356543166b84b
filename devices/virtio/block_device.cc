#include "devices/virtio/block_device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"

namespace vmmd::virtio {
namespace {

// Spec 5.2.4's offsets, checked against the UAPI struct that ReadConfig copies from; the
// fields are little-endian, which the host is (split_ring.h asserts it).
static_assert(offsetof(virtio_blk_config, capacity) == 0, "spec 5.2.4: le64 capacity");
static_assert(offsetof(virtio_blk_config, seg_max) == 12, "spec 5.2.4: le32 seg_max");
static_assert(offsetof(virtio_blk_config, blk_size) == 20, "spec 5.2.4: le32 blk_size");
// struct virtio_blk_req's header: le32 type, le32 reserved, le64 sector (5.2.6).
static_assert(sizeof(virtio_blk_outhdr) == 16 && offsetof(virtio_blk_outhdr, sector) == 8,
              "spec 5.2.6: struct virtio_blk_req header");

constexpr uint64_t kHeaderSize = sizeof(virtio_blk_outhdr);

virtio_blk_config MakeConfig(uint64_t capacity) {
  virtio_blk_config config;
  std::memset(&config, 0, sizeof(config));
  config.capacity = capacity;
  config.seg_max = BlockDevice::kSegMax;
  config.blk_size = BlockDevice::kSectorSize;
  return config;
}

std::array<uint8_t, BlockDevice::kIdBytes> MakeId(absl::string_view drive_id) {
  std::array<uint8_t, BlockDevice::kIdBytes> id{};
  std::memcpy(id.data(), drive_id.data(), std::min(drive_id.size(), id.size()));
  return id;
}

enum class Direction { kRead, kWrite };

// preadv/pwritev until every byte of `iov` has moved, at file offset `offset`: retries EINTR,
// continues after a short transfer, passes at most IOV_MAX iovecs per call. Consumes `iov`.
// OUT_OF_RANGE if the file ends first (it shrank since Create); otherwise ErrnoToStatus.
absl::Status TransferAll(int fd, Direction direction, absl::Span<iovec> iov, uint64_t offset) {
  while (!iov.empty()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX));
    const ssize_t done = direction == Direction::kRead
                             ? ::preadv(fd, iov.data(), count, static_cast<off_t>(offset))
                             : ::pwritev(fd, iov.data(), count, static_cast<off_t>(offset));
    if (done < 0) {
      if (errno == EINTR) continue;
      return ::vmmd::ErrnoToStatus(
          errno, absl::StrFormat("%s(drive image, offset %#x)",
                                 direction == Direction::kRead ? "preadv" : "pwritev", offset));
    }
    if (done == 0) {
      return absl::OutOfRangeError(
          absl::StrFormat("drive image ends at offset %#x, inside the request", offset));
    }
    offset += static_cast<uint64_t>(done);
    // Drop the iovecs done, and advance into the first one left.
    size_t left = static_cast<size_t>(done);
    while (!iov.empty() && left >= iov.front().iov_len) {
      left -= iov.front().iov_len;
      iov.remove_prefix(1);
    }
    if (left > 0) {
      iov.front().iov_base = static_cast<uint8_t*>(iov.front().iov_base) + left;
      iov.front().iov_len -= left;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlockDevice>> BlockDevice::Create(UniqueFd image, bool read_only,
                                                                 absl::string_view drive_id) {
  if (drive_id.size() > kIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("drive id \"%s\" is %d bytes, more than virtio-blk's %d "
                        "(VIRTIO_BLK_ID_BYTES)",
                        drive_id, drive_id.size(), kIdBytes));
  }
  if (!image.valid()) return absl::InvalidArgumentError("drive image fd is not open");
  struct stat st;
  if (::fstat(image.get(), &st) != 0) return ::vmmd::ErrnoToStatus(errno, "fstat(drive image)");
  // A block device's st_size is 0: serving one would need BLKGETSIZE64, and is not asked for.
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("drive image must be a regular file (mode %#o)", st.st_mode));
  }
  const int flags = ::fcntl(image.get(), F_GETFL);
  if (flags < 0) return ::vmmd::ErrnoToStatus(errno, "fcntl(drive image, F_GETFL)");
  if (!read_only && (flags & O_ACCMODE) == O_RDONLY) {
    return absl::InvalidArgumentError(
        "drive image is open read-only but the drive is not read_only");
  }
  // Capacity counts whole sectors: a tail shorter than 512 bytes is left out and the guest
  // never sees it (as Firecracker does), rather than refusing an image that works otherwise.
  const uint64_t capacity = static_cast<uint64_t>(st.st_size) / kSectorSize;
  return std::unique_ptr<BlockDevice>(
      new BlockDevice(std::move(image), read_only, capacity, drive_id));
}

BlockDevice::BlockDevice(UniqueFd image, bool read_only, uint64_t capacity,
                         absl::string_view drive_id)
    : image_(std::move(image)),
      read_only_(read_only),
      capacity_(capacity),
      id_(MakeId(drive_id)),
      config_(MakeConfig(capacity)) {}

uint64_t BlockDevice::offered_features() const {
  uint64_t features = (uint64_t{1} << VIRTIO_BLK_F_SEG_MAX) |
                      (uint64_t{1} << VIRTIO_BLK_F_BLK_SIZE) |
                      (uint64_t{1} << VIRTIO_BLK_F_FLUSH) | kFeatureIndirectDesc |
                      kFeatureEventIdx;
  if (read_only_) features |= uint64_t{1} << VIRTIO_BLK_F_RO;
  return features;
}

void BlockDevice::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const {
  std::memset(data.data(), 0, data.size());
  if (offset >= sizeof(config_)) return;
  const size_t length = std::min<uint64_t>(data.size(), sizeof(config_) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config_) + offset, length);
}

absl::Status BlockDevice::ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) {
  if (index != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("virtio-blk queue index %d: the device has 1 queue", index));
  }
  // A chain longer than seg_max + 2 is served all the same: the queue size bounds it.
  std::vector<iovec> iov;
  iov.reserve(kQueueSize);
  while (true) {
    ASSIGN_OR_RETURN(std::optional<DescriptorChain> chain, queue.Pop(memory));
    if (!chain) return absl::OkStatus();
    const uint32_t used = Serve(*chain, memory, iov);
    RETURN_IF_ERROR(queue.AddUsed(memory, chain->head(), used));
  }
}

uint32_t BlockDevice::Serve(const DescriptorChain& chain, GuestMemory& memory,
                            std::vector<iovec>& iov) {
  AtomicDeviceCounters::Add(counters_.requests);
  virtio_blk_outhdr header;
  // Without a header there is no request, and without a writable byte nowhere to say so:
  // the chain goes back untouched.
  if (chain.readable_length() < kHeaderSize || chain.writable_length() < 1 ||
      !chain.ReadFromReadable(memory, 0,
                              absl::MakeSpan(reinterpret_cast<uint8_t*>(&header), kHeaderSize))
           .ok()) {
    AtomicDeviceCounters::Add(counters_.errors);
    return 0;
  }
  uint32_t data_written = 0;
  const uint8_t status = Execute(header, chain, memory, iov, data_written);
  if (status != VIRTIO_BLK_S_OK) {
    AtomicDeviceCounters::Add(counters_.errors);
    data_written = 0;
  }
  const uint32_t status_offset = chain.writable_length() - 1;
  if (!chain.WriteToWritable(memory, status_offset, absl::MakeConstSpan(&status, 1)).ok()) {
    if (status == VIRTIO_BLK_S_OK) AtomicDeviceCounters::Add(counters_.errors);
    return 0;
  }
  return data_written + 1;
}

uint8_t BlockDevice::Execute(const virtio_blk_outhdr& header, const DescriptorChain& chain,
                             GuestMemory& memory, std::vector<iovec>& iov,
                             uint32_t& data_written) {
  // Reads fill the writable part up to the status byte; writes take the readable part after
  // the header.
  const uint32_t in_length = chain.writable_length() - 1;
  const uint64_t out_length = chain.readable_length() - kHeaderSize;
  iov.clear();
  switch (header.type) {
    case VIRTIO_BLK_T_IN: {
      if (!InRange(header.sector, in_length) ||
          !AppendHostIovecs(memory, chain.writable(), 0, in_length, iov).ok() ||
          !TransferAll(image_.get(), Direction::kRead, absl::MakeSpan(iov),
                       header.sector * kSectorSize)
               .ok()) {
        return VIRTIO_BLK_S_IOERR;
      }
      AtomicDeviceCounters::Add(counters_.bytes_read, in_length);
      data_written = in_length;
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_OUT: {
      // Spec 5.2.6.1: with VIRTIO_BLK_F_RO offered, IOERR and no data written.
      if (read_only_ || !InRange(header.sector, out_length) ||
          !AppendHostIovecs(memory, chain.readable(), kHeaderSize, out_length, iov).ok() ||
          !TransferAll(image_.get(), Direction::kWrite, absl::MakeSpan(iov),
                       header.sector * kSectorSize)
               .ok()) {
        return VIRTIO_BLK_S_IOERR;
      }
      AtomicDeviceCounters::Add(counters_.bytes_written, out_length);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_FLUSH: {
      // The sector is to be 0 (5.2.6.2) and means nothing; a read-only device wrote nothing
      // that a flush would make durable.
      if (read_only_) return VIRTIO_BLK_S_OK;
      int result;
      do {
        result = ::fdatasync(image_.get());
      } while (result != 0 && errno == EINTR);
      return result == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
    }
    case VIRTIO_BLK_T_GET_ID: {
      // The id, zero-padded to 20 bytes; a shorter buffer gets its first bytes.
      const uint32_t length = std::min<uint32_t>(in_length, kIdBytes);
      if (!chain.WriteToWritable(memory, 0, absl::MakeConstSpan(id_.data(), length)).ok()) {
        return VIRTIO_BLK_S_IOERR;
      }
      data_written = length;
      return VIRTIO_BLK_S_OK;
    }
    default:
      return VIRTIO_BLK_S_UNSUPP;
  }
}

bool BlockDevice::InRange(uint64_t sector, uint64_t length) const {
  // Compared in sectors, so sector * 512 is only computed once it is known to fit.
  return length % kSectorSize == 0 && sector <= capacity_ &&
         length / kSectorSize <= capacity_ - sector;
}

DeviceCounters BlockDevice::counters() const { return counters_.Load(); }

}  // namespace vmmd::virtio
