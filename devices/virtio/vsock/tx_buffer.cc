#include "devices/virtio/vsock/tx_buffer.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/errno_status.h"

namespace vmmd::virtio::vsock {

bool TxBuffer::Append(absl::Span<const iovec> source, size_t skip) {
  size_t total = 0;
  for (const iovec& v : source) total += v.iov_len;
  if (skip >= total) return true;
  const size_t length = total - skip;
  if (length > free()) return false;
  if (data_ == nullptr) {
    data_ = std::make_unique<uint8_t[]>(capacity_);
    head_ = 0;
  }
  for (const iovec& v : source) {
    const uint8_t* from = static_cast<const uint8_t*>(v.iov_base);
    size_t left = v.iov_len;
    if (skip >= left) {
      skip -= left;
      continue;
    }
    from += skip;
    left -= skip;
    skip = 0;
    while (left > 0) {
      // The first free byte, and how many free bytes follow it before the ring wraps.
      const uint32_t tail = static_cast<uint32_t>((uint64_t{head_} + size_) % capacity_);
      const size_t run = std::min<size_t>(left, capacity_ - tail);
      std::memcpy(data_.get() + tail, from, run);
      size_ += static_cast<uint32_t>(run);
      from += run;
      left -= run;
    }
  }
  return true;
}

absl::StatusOr<size_t> TxBuffer::FlushTo(int fd) {
  size_t sent = 0;
  while (size_ > 0) {
    // At most two pieces: head to the end of the storage, then from its start.
    iovec pieces[2];
    const uint32_t first = std::min<uint32_t>(size_, capacity_ - head_);
    pieces[0] = {data_.get() + head_, first};
    pieces[1] = {data_.get(), size_ - first};
    msghdr message = {};
    message.msg_iov = pieces;
    message.msg_iovlen = size_ > first ? 2 : 1;
    const ssize_t done = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (done < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return ::vmmd::ErrnoToStatus(errno, "sendmsg(vsock host socket)");
    }
    head_ = static_cast<uint32_t>((uint64_t{head_} + static_cast<uint64_t>(done)) % capacity_);
    size_ -= static_cast<uint32_t>(done);
    sent += static_cast<size_t>(done);
  }
  if (size_ == 0) Clear();
  return sent;
}

void TxBuffer::Clear() {
  data_.reset();
  head_ = 0;
  size_ = 0;
}

}  // namespace vmmd::virtio::vsock
