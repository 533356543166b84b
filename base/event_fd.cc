#include "base/event_fd.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/errno_status.h"

namespace vmmd {

absl::StatusOr<EventFd> EventFd::Create() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ::vmmd::ErrnoToStatus(errno, "eventfd(EFD_CLOEXEC | EFD_NONBLOCK)");
  return EventFd(UniqueFd(fd));
}

void EventFd::Signal() const {
  // eventfd(2): a write adds its 8-byte value; EAGAIN only at the counter's maximum, when the
  // fd is readable anyway. Nothing else fails on a valid eventfd (EINTR is retried for form's
  // sake).
  const uint64_t one = 1;
  while (::write(fd_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

uint64_t EventFd::Consume() const {
  // A read returns the counter and resets it; EAGAIN (non-blocking) when it is zero.
  uint64_t value = 0;
  while (::read(fd_.get(), &value, sizeof(value)) < 0) {
    if (errno != EINTR) return 0;
  }
  return value;
}

}  // namespace vmmd
