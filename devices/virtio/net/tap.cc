#include "devices/virtio/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "devices/virtio/net/net_header.h"

namespace vmmd::virtio {
namespace {

constexpr char kTunDevice[] = "/dev/net/tun";

}  // namespace

// The checks of dev_valid_name (net/core/dev.c), so that a bad name is the caller's
// INVALID_ARGUMENT with a reason rather than the kernel's bare EINVAL.
absl::Status Tap::CheckName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("tap interface name is empty");
  if (name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tap interface name \"%s\" is %d bytes; Linux allows at most %d "
                        "(IFNAMSIZ - 1)",
                        name, name.size(), IFNAMSIZ - 1));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrFormat("tap interface name \"%s\" is not a valid interface name", name));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tap interface name \"%s\" has a character Linux refuses ('/', ':', NUL or "
          "whitespace)",
          absl::CHexEscape(name)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tap> Tap::Open(absl::string_view name) {
  if (absl::Status valid = CheckName(name); !valid.ok()) return valid;
  UniqueFd fd(::open(kTunDevice, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("open(", kTunDevice, ") for tap ", name));
  }
  struct ifreq request;
  std::memset(&request, 0, sizeof(request));
  std::memcpy(request.ifr_name, name.data(), name.size());  // NUL-terminated: size < IFNAMSIZ
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &request) != 0) {
    const int error = errno;
    // EINVAL here mostly means the name is taken by something else: say so.
    return ::vmmd::ErrnoToStatus(
        error, absl::StrCat("TUNSETIFF(", name, ", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)",
                            error == EINVAL ? " (an interface of that name that is not a tap "
                                              "of these flags?)"
                                            : ""));
  }
  // The kernel's name: a "%d" in `name` is now a number.
  std::string actual(request.ifr_name, strnlen(request.ifr_name, IFNAMSIZ));
  struct ifreq flags;
  std::memset(&flags, 0, sizeof(flags));
  if (::ioctl(fd.get(), TUNGETIFF, &flags) != 0) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("TUNGETIFF(", actual, ")"));
  }
  // Virtio 1.x's header (net_header.h). The kernel's default is the 10-byte legacy one,
  // without num_buffers.
  int header_size = static_cast<int>(kNetHeaderSize);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) != 0) {
    return ::vmmd::ErrnoToStatus(errno,
                                 absl::StrCat("TUNSETVNETHDRSZ(", actual, ", ", header_size, ")"));
  }
  const bool pre_existing = (flags.ifr_flags & IFF_PERSIST) != 0;
  return Tap(std::move(fd), std::move(actual), pre_existing);
}

absl::StatusOr<UniqueFd> Tap::Duplicate() const {
  UniqueFd copy(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) return ::vmmd::ErrnoToStatus(errno, absl::StrCat("dup(tap ", name_, ")"));
  return copy;
}

absl::Status Tap::SetOffload(unsigned flags) const {
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, flags) != 0) {
    return ::vmmd::ErrnoToStatus(errno,
                                 absl::StrFormat("TUNSETOFFLOAD(%s, %#x)", name_, flags));
  }
  return absl::OkStatus();
}

}  // namespace vmmd::virtio
