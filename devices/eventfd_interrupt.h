// EventFdInterrupt: an InterruptLine backed by an eventfd, which the daemon registers with
// KVM as an irqfd so that Trigger() injects the interrupt without a vCPU exit.
#ifndef VMMD_DEVICES_EVENTFD_INTERRUPT_H_
#define VMMD_DEVICES_EVENTFD_INTERRUPT_H_

#include <utility>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "devices/port_io_device.h"

namespace vmmd {

class EventFdInterrupt : public InterruptLine {
 public:
  // eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). Errors follow errno (e.g. EMFILE ->
  // RESOURCE_EXHAUSTED) through ErrnoToStatus.
  static absl::StatusOr<EventFdInterrupt> Create();

  EventFdInterrupt(EventFdInterrupt&&) = default;
  EventFdInterrupt& operator=(EventFdInterrupt&&) = default;

  void Trigger() override;  // writes 1 to the eventfd; never blocks
  int fd() const { return fd_.get(); }

 private:
  explicit EventFdInterrupt(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_EVENTFD_INTERRUPT_H_
