#include "devices/eventfd_interrupt.h"

#include "base/status_macros.h"

namespace vmmd {

absl::StatusOr<EventFdInterrupt> EventFdInterrupt::Create() {
  ASSIGN_OR_RETURN(EventFd event, EventFd::Create());
  return EventFdInterrupt(std::move(event));
}

}  // namespace vmmd
