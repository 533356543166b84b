// EventFd: an eventfd(2) counter. The event loop's wake-up, what its handlers watch (queue
// notifications registered with KVM as ioeventfds), and interrupt lines (KVM irqfds).
#ifndef VMMD_BASE_EVENT_FD_H_
#define VMMD_BASE_EVENT_FD_H_

#include <cstdint>
#include <utility>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace vmmd {

// An eventfd(2): a 64-bit counter that is readable (EPOLLIN) while it is not zero. Move-only;
// closes the descriptor when destroyed. Signal and Consume may be called from any thread.
class EventFd {
 public:
  // eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). Errors follow errno through ErrnoToStatus
  // (EMFILE, ENFILE -> RESOURCE_EXHAUSTED).
  static absl::StatusOr<EventFd> Create();

  EventFd(EventFd&&) = default;
  EventFd& operator=(EventFd&&) = default;

  // Adds 1 to the counter; never blocks. At the counter's maximum (2^64 - 2) the write is
  // dropped, which loses nothing: the fd is readable already.
  void Signal() const;
  // Reads the counter and resets it to zero; returns what it held (0 if nothing was pending).
  // Never blocks.
  uint64_t Consume() const;

  int fd() const { return fd_.get(); }

 private:
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace vmmd

#endif  // VMMD_BASE_EVENT_FD_H_
