// BlockDevice: virtio-blk (virtio 1.2 section 5.2, device id 2) over a raw image file.
//
// One request queue. Each request is a header (type, reserved, sector) at the start of the
// chain's device-readable part, the data (the rest of the readable part for a write, all but
// the last writable byte for a read), and a status byte in the chain's last device-writable
// byte. The parts are found by byte offset, not by descriptor, so any framing the driver
// chooses works (VIRTIO_F_ANY_LAYOUT is implied by VERSION_1, spec 2.6.4). The used length
// is the data given to the guest plus the status byte: 1 for a write, a flush or a refused
// request; 0 for a chain that is no request (no 16-byte header, or nothing writable), which
// goes back untouched and counts as an error.
//
// I/O is blocking preadv/pwritev on the calling thread (the VM's event loop, never a vCPU),
// straight between the file and guest RAM: the iovecs point at the chain's buffers.
//
// Threads: the configuration space is fixed at Create, so ReadConfig (vCPU threads) shares
// nothing mutable with ProcessQueue (the event loop); the counters are atomics.
#ifndef VMMD_DEVICES_VIRTIO_BLOCK_DEVICE_H_
#define VMMD_DEVICES_VIRTIO_BLOCK_DEVICE_H_

#include <linux/virtio_blk.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"
#include "devices/virtio/virtio_device.h"

namespace vmmd::virtio {

class BlockDevice : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  // Capacity and request sectors are in 512-byte units whatever blk_size says (5.2.4).
  static constexpr uint64_t kSectorSize = 512;
  // Data segments per request: a chain is at most the queue size (2.7.5.3.1), less the
  // header and status descriptors.
  static constexpr uint32_t kSegMax = kQueueSize - 2;
  // VIRTIO_BLK_ID_BYTES: the GET_ID answer, zero-padded when shorter (5.2.6).
  static constexpr size_t kIdBytes = VIRTIO_BLK_ID_BYTES;

  // A device serving `image` (its size, rounded down to whole sectors, is the capacity),
  // answering GET_ID with `drive_id`. `read_only` offers VIRTIO_BLK_F_RO and refuses writes.
  // INVALID_ARGUMENT, naming the field and its limit: drive_id longer than kIdBytes; the fd
  // not open; not a regular file; open read-only while the drive is read-write. fstat or
  // fcntl failing: ErrnoToStatus.
  static absl::StatusOr<std::unique_ptr<BlockDevice>> Create(UniqueFd image, bool read_only,
                                                             absl::string_view drive_id);

  // In 512-byte sectors.
  uint64_t capacity() const { return capacity_; }
  bool read_only() const { return read_only_; }

  uint32_t device_id() const override { return kDeviceIdBlock; }
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
  // struct virtio_blk_config (5.2.4), little-endian: capacity, seg_max, blk_size set, the
  // rest 0. Writes are ignored (the writeback field needs VIRTIO_BLK_F_CONFIG_WCE, not offered).
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  // Serves every available chain of queue 0. Pop's INVALID_ARGUMENT (a broken ring) and
  // AddUsed's errors are returned; INVALID_ARGUMENT for an index other than 0. A refused
  // request is answered in its status byte and counted in errors, not returned.
  absl::Status ProcessQueue(size_t index, Virtqueue& queue, GuestMemory& memory) override;
  DeviceCounters counters() const override;

 private:
  BlockDevice(UniqueFd image, bool read_only, uint64_t capacity, absl::string_view drive_id);

  // One chain: the used length to report (bytes written to its writable part).
  uint32_t Serve(const DescriptorChain& chain, GuestMemory& memory, std::vector<iovec>& iov);
  // The request's VIRTIO_BLK_S_* status; `data_written` gets the data bytes given to the
  // guest (reads, GET_ID), set only on success.
  uint8_t Execute(const virtio_blk_outhdr& header, const DescriptorChain& chain,
                  GuestMemory& memory, std::vector<iovec>& iov, uint32_t& data_written);
  // Whether [sector, + length bytes) is whole sectors inside the disk, without overflow.
  bool InRange(uint64_t sector, uint64_t length) const;

  const UniqueFd image_;
  const bool read_only_;
  const uint64_t capacity_;
  const std::array<uint8_t, kIdBytes> id_;
  const virtio_blk_config config_;

  AtomicDeviceCounters counters_;
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_BLOCK_DEVICE_H_
