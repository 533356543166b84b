// EventFdInterrupt: an InterruptLine backed by an eventfd, which the daemon registers with
// KVM as an irqfd so that Trigger() injects the interrupt without a vCPU exit.
#ifndef VMMD_DEVICES_EVENTFD_INTERRUPT_H_
#define VMMD_DEVICES_EVENTFD_INTERRUPT_H_

#include <utility>

#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "devices/port_io_device.h"

namespace vmmd {

class EventFdInterrupt : public InterruptLine {
 public:
  // A non-blocking eventfd (EventFd::Create), so Trigger() never stalls a vCPU thread.
  static absl::StatusOr<EventFdInterrupt> Create();

  EventFdInterrupt(EventFdInterrupt&&) = default;
  EventFdInterrupt& operator=(EventFdInterrupt&&) = default;

  // Adds one edge. At the counter's maximum edges KVM has not consumed are pending already,
  // so dropping this one loses nothing the guest could tell apart.
  void Trigger() override { event_.Signal(); }
  int fd() const { return event_.fd(); }

 private:
  explicit EventFdInterrupt(EventFd event) : event_(std::move(event)) {}
  EventFd event_;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_EVENTFD_INTERRUPT_H_
