// ConsoleBuffer: a VM's console output in a fixed-size ring. A guest that floods its console
// overwrites the oldest bytes; memory never grows. Readers address bytes by their offset in
// everything ever written, so they can replay, follow, and see what they missed.
#ifndef VMMD_DEVICES_CONSOLE_BUFFER_H_
#define VMMD_DEVICES_CONSOLE_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "base/wake_list.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace vmmd {

class ConsoleBuffer {
 public:
  static constexpr size_t kDefaultCapacity = 1 << 20;  // 1 MiB per VM

  // A capacity of 0 is taken as 1 so that the ring always has room.
  explicit ConsoleBuffer(size_t capacity = kDefaultCapacity);

  // Appends guest output, overwriting the oldest bytes when full, and wakes waiting readers.
  // Ignored after Close(), so that a reader told `closed` has seen everything.
  void Append(absl::Span<const uint8_t> bytes);

  // No more output will come (the VM stopped or is being deleted): wakes all readers.
  void Close();

  struct Chunk {
    std::string data;      // up to max_bytes, starting at `offset`
    uint64_t offset = 0;   // >= the requested offset when older bytes were overwritten
    bool closed = false;   // true when Close() was called and nothing is left past the chunk
  };

  // Bytes from `offset` on (clamped to the oldest byte still held), at most `max_bytes`.
  // When none are there yet, waits up to `timeout` for some (or for Close). Returns an
  // empty chunk on timeout, whose `offset` is where to read next. A zero `timeout` or
  // `max_bytes` never waits; absl::InfiniteDuration() waits until data or Close.
  Chunk Read(uint64_t offset, size_t max_bytes, absl::Duration timeout = absl::ZeroDuration());

  // For followers that hold no thread: calls `wake` once, when bytes past `offset` exist or
  // the ring is closed. If that is already so, calls it now and returns 0; else returns an id
  // for CancelWake. `wake` runs on the appending thread (a vCPU thread, whose seccomp filter
  // allows little) with no lock held: it should only hand the work to another thread.
  uint64_t WakeWhenReadable(uint64_t offset, absl::AnyInvocable<void() &&> wake);
  // Drops a wake not yet called (a follower that went away). Unknown ids are ignored.
  void CancelWake(uint64_t id);

  // Total bytes ever appended (the offset the next byte will get).
  uint64_t total_written() const;
  size_t capacity() const { return capacity_; }

 private:
  mutable Mutex mutex_;
  // Fixed size, allocated once. Its bytes are read and written under mutex_; its size never
  // changes, so capacity() reads it without the lock.
  // Left uninitialised: the kernel hands out pages only as the guest's output reaches them,
  // so a quiet VM's console costs almost no memory.
  const size_t capacity_;
  const std::unique_ptr<uint8_t[]> ring_;
  uint64_t written_ ABSL_GUARDED_BY(mutex_) = 0;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
  // Followers waiting for bytes at their offset.
  WakeList wakes_ ABSL_GUARDED_BY(mutex_);
  void AppendLocked(absl::Span<const uint8_t> bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_CONSOLE_BUFFER_H_
