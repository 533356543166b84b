// Tap: a Linux tap interface as virtio-net's backend (Documentation/networking/tuntap.rst).
//
// Open attaches to /dev/net/tun as an Ethernet tap (IFF_TAP) without the packet-information
// prefix (IFF_NO_PI) and with a virtio-net header before every frame (IFF_VNET_HDR), sized
// to virtio 1.x's 12-byte struct virtio_net_hdr_v1 (TUNSETVNETHDRSZ): each read gives one
// header + frame, each write takes one, which is exactly what NetDevice moves. The fd is
// non-blocking: the VM's device loop must never wait on it.
//
// A named interface that exists (`ip tuntap add NAME mode tap`, persistent) is attached to;
// otherwise the kernel creates one, not persistent, which disappears when the last fd to it
// closes. An interface is only ever configured (addresses, bridge, up) by whoever made it.
#ifndef VMMD_DEVICES_VIRTIO_NET_TAP_H_
#define VMMD_DEVICES_VIRTIO_NET_TAP_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace vmmd::virtio {

class Tap {
 public:
  // Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC), TUNSETIFF for `name` with
  // IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, TUNGETIFF (to learn whether it existed: a tap we
  // create is not persistent, and a non-persistent tap in use elsewhere cannot be attached),
  // then TUNSETVNETHDRSZ to 12.
  // INVALID_ARGUMENT for a name the kernel would refuse (dev_valid_name in net/core/dev.c:
  // empty, IFNAMSIZ bytes or more, ".", "..", or with '/', ':' or whitespace). A "%d" in the
  // name lets the kernel pick the number (name() says which). Otherwise what the syscall
  // fails with through ErrnoToStatus, naming the ioctl and the interface: TUNSETIFF's EINVAL
  // (INVALID_ARGUMENT) when the name is an interface that is not a tap of these flags, EBUSY
  // (FAILED_PRECONDITION) when a non-persistent tap is in use, EPERM (PERMISSION_DENIED) without
  // CAP_NET_ADMIN or for another owner's tap; open's ENOENT (NOT_FOUND) without a tun driver.
  static absl::StatusOr<Tap> Open(absl::string_view name);
  // Open's check of a name, alone: OK, or INVALID_ARGUMENT saying what Linux would refuse.
  static absl::Status CheckName(absl::string_view name);

  Tap(Tap&&) = default;
  Tap& operator=(Tap&&) = default;

  // The interface's name, as the kernel has it.
  const std::string& name() const { return name_; }
  // Whether the interface existed before Open (and so outlives this Tap).
  bool pre_existing() const { return pre_existing_; }
  int fd() const { return fd_.get(); }

  // Another fd to the same tap queue (F_DUPFD_CLOEXEC), for NetDevice's data path; this Tap
  // keeps its own for SetOffload. The interface lives while either is open.
  absl::StatusOr<UniqueFd> Duplicate() const;

  // TUNSETOFFLOAD: which offloads the reader takes (TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6,
  // TUN_F_TSO_ECN, TUN_F_UFO; TapOffloadFlags in net_header.h maps the guest's features).
  // Without TUN_F_CSUM the kernel finishes every checksum and segments every packet before
  // we read it. ErrnoToStatus naming the ioctl and the interface (EINVAL for unknown flags).
  absl::Status SetOffload(unsigned flags) const;

 private:
  Tap(UniqueFd fd, std::string name, bool pre_existing)
      : fd_(std::move(fd)), name_(std::move(name)), pre_existing_(pre_existing) {}

  UniqueFd fd_;
  std::string name_;
  bool pre_existing_ = false;
};

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_NET_TAP_H_
