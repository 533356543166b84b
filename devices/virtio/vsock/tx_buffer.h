// TxBuffer: the bytes a guest sent on one vsock connection that the host socket has not taken
// yet, at most `capacity` of them: the buf_alloc the device advertises for the connection, so
// a guest that respects its credit (spec 5.10.6.3) always fits, and one that does not is
// refused before anything is copied. A ring over one allocation made when the first byte has
// to wait and given back when the buffer drains, so an idle connection holds no buffer.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_TX_BUFFER_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_TX_BUFFER_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::virtio::vsock {

class TxBuffer {
 public:
  explicit TxBuffer(uint32_t capacity) : capacity_(capacity) {}
  TxBuffer(TxBuffer&&) = default;
  TxBuffer& operator=(TxBuffer&&) = default;

  uint32_t capacity() const { return capacity_; }
  uint32_t size() const { return size_; }
  uint32_t free() const { return capacity_ - size_; }
  bool empty() const { return size_ == 0; }
  // Whether the ring's storage is allocated (it is only while bytes wait).
  bool allocated() const { return data_ != nullptr; }

  // Appends the bytes `source` covers after its first `skip`: all of them, or nothing and
  // false when they do not fit in free().
  bool Append(absl::Span<const iovec> source, size_t skip);

  // Sends buffered bytes to `fd`, a non-blocking stream socket, until the buffer is empty or
  // the socket would block; MSG_NOSIGNAL, so a peer that has gone is EPIPE, never SIGPIPE.
  // Returns the bytes sent (0 when the socket would block at once). Other send(2) errors
  // through ErrnoToStatus (EPIPE -> FAILED_PRECONDITION, ECONNRESET -> UNAVAILABLE, ...); the
  // bytes stay buffered.
  absl::StatusOr<size_t> FlushTo(int fd);

  // Forgets every buffered byte and gives the storage back.
  void Clear();

 private:
  uint32_t capacity_;
  std::unique_ptr<uint8_t[]> data_;
  uint32_t head_ = 0;  // offset of the oldest byte
  uint32_t size_ = 0;
};

}  // namespace vmmd::virtio::vsock

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_TX_BUFFER_H_
