#include "tools/vmmctl/connect.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "grpc/support/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace vmmctl {
namespace {

std::string Where(const Address& address) {
  return absl::StrCat("cannot connect to vmmd at ", address.address,
                      address.source == "--address" ? "" : absl::StrCat(" (", address.source, ")"));
}

constexpr char kHint[] =
    "; is vmmd running? (choose another daemon with --address or $VMMD_ADDRESS)";

// connect(2) to the socket and straight away close it: errno says what is wrong.
absl::Status ProbeUnixSocket(const Address& address) {
  sockaddr_un socket_address = {};
  socket_address.sun_family = AF_UNIX;
  if (address.unix_path.size() >= sizeof(socket_address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(address), ": socket path longer than ",
                     sizeof(socket_address.sun_path) - 1, " bytes"));
  }
  std::memcpy(socket_address.sun_path, address.unix_path.data(), address.unix_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket(AF_UNIX): ", std::strerror(errno)));
  const int result =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&socket_address), sizeof(socket_address));
  const int error = errno;
  ::close(fd);
  if (result == 0) return absl::OkStatus();
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::UnavailableError(
          absl::StrCat(Where(address), ": no socket at ", address.unix_path, kHint));
    case ECONNREFUSED:
      return absl::UnavailableError(absl::StrCat(Where(address), ": nothing listens on ",
                                                 address.unix_path, kHint));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(
          Where(address), ": permission denied on ", address.unix_path,
          " (is your user in the group given to vmmd's --socket_group?)"));
    default:
      return absl::UnavailableError(
          absl::StrCat(Where(address), ": connect: ", std::strerror(error), kHint));
  }
}

gpr_timespec Deadline(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(absl::ToInt64Milliseconds(timeout), GPR_TIMESPAN));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Address& address,
                                                       absl::Duration timeout) {
  if (!address.unix_path.empty()) {
    absl::Status probe = ProbeUnixSocket(address);
    if (!probe.ok()) return probe;
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(address.grpc_target, grpc::InsecureChannelCredentials());
  const gpr_timespec deadline = Deadline(timeout);
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      return absl::UnavailableError(absl::StrCat(Where(address), ": connection failed", kHint));
    }
    if (!channel->WaitForStateChange(state, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          Where(address), ": still connecting after ", absl::FormatDuration(timeout), kHint));
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  return channel;
}

}  // namespace vmmctl
