#include "devices/console_buffer.h"

#include <algorithm>
#include <cstring>

namespace vmmd {

ConsoleBuffer::ConsoleBuffer(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)), ring_(new uint8_t[capacity_]) {}

void ConsoleBuffer::Append(absl::Span<const uint8_t> bytes) {
  std::vector<WakeList::Wake> ready;
  {
    MutexLock lock(&mutex_);
    if (closed_ || bytes.empty()) return;
    AppendLocked(bytes);
    if (!wakes_.empty()) ready = wakes_.TakeReady(written_, closed_);
  }
  WakeList::Run(std::move(ready));
}

uint64_t ConsoleBuffer::WakeWhenReadable(uint64_t offset, absl::AnyInvocable<void() &&> wake) {
  {
    MutexLock lock(&mutex_);
    if (!closed_ && written_ <= offset) return wakes_.Add(offset, std::move(wake));
  }
  std::move(wake)();
  return 0;
}

void ConsoleBuffer::CancelWake(uint64_t id) {
  MutexLock lock(&mutex_);
  wakes_.Cancel(id);
}

void ConsoleBuffer::AppendLocked(absl::Span<const uint8_t> bytes) {
  const size_t capacity = capacity_;
  // Only the newest `capacity` bytes can survive; skip the rest, but still count them so that
  // offsets keep meaning "position in everything ever written".
  const size_t skipped = bytes.size() > capacity ? bytes.size() - capacity : 0;
  written_ += skipped;
  absl::Span<const uint8_t> kept = bytes.subspan(skipped);
  // At most two copies: up to the end of the ring, then from its start.
  const size_t start = static_cast<size_t>(written_ % capacity);
  const size_t first = std::min(kept.size(), capacity - start);
  std::memcpy(ring_.get() + start, kept.data(), first);
  std::memcpy(ring_.get(), kept.data() + first, kept.size() - first);
  written_ += kept.size();
  // Readers blocked in Read() wait on a condition over written_; Mutex re-evaluates it
  // when this lock is released, so no explicit signal is needed.
}

void ConsoleBuffer::Close() {
  std::vector<WakeList::Wake> ready;
  {
    MutexLock lock(&mutex_);
    closed_ = true;
    ready = wakes_.TakeReady(written_, closed_);
  }
  WakeList::Run(std::move(ready));
}

ConsoleBuffer::Chunk ConsoleBuffer::Read(uint64_t offset, size_t max_bytes,
                                         absl::Duration timeout) {
  MutexLock lock(&mutex_);
  if (max_bytes > 0 && timeout > absl::ZeroDuration()) {
    // Bytes older than the ring are gone but the ones after them are there, so "anything
    // at or past `offset`" is simply written_ > offset.
    auto ready = [this, offset]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return written_ > offset || closed_;
    };
    mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }

  const size_t capacity = capacity_;
  const uint64_t oldest = written_ > capacity ? written_ - capacity : 0;
  Chunk chunk;
  chunk.offset = std::max(offset, oldest);
  if (chunk.offset < written_) {
    const size_t length =
        static_cast<size_t>(std::min<uint64_t>(written_ - chunk.offset, max_bytes));
    chunk.data.resize(length);
    const size_t start = static_cast<size_t>(chunk.offset % capacity);
    const size_t first = std::min(length, capacity - start);
    std::memcpy(chunk.data.data(), ring_.get() + start, first);
    std::memcpy(chunk.data.data() + first, ring_.get(), length - first);
  }
  chunk.closed = closed_ && chunk.offset + chunk.data.size() >= written_;
  return chunk;
}

uint64_t ConsoleBuffer::total_written() const {
  MutexLock lock(&mutex_);
  return written_;
}

}  // namespace vmmd
