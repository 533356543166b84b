#include "devices/eventfd_interrupt.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

#include "base/errno_status.h"

namespace vmmd {

absl::StatusOr<EventFdInterrupt> EventFdInterrupt::Create() {
  // Non-blocking so that Trigger() never stalls a vCPU thread (see Trigger).
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ::vmmd::ErrnoToStatus(errno, "eventfd(EFD_CLOEXEC | EFD_NONBLOCK)");
  return EventFdInterrupt(UniqueFd(fd));
}

void EventFdInterrupt::Trigger() {
  // eventfd(2): a write adds its 8-byte value to the counter. EAGAIN means the counter is at
  // its maximum, i.e. edges are already pending that KVM has not consumed, so dropping this
  // one loses nothing the guest could tell apart. Nothing else can fail on a valid eventfd
  // with an 8-byte buffer (EINTR is retried for form's sake), and there is no caller to tell.
  const uint64_t one = 1;
  while (::write(fd_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

}  // namespace vmmd
