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
#include "grpcpp/support/channel_arguments.h"
#include "tools/vmmctl/connection_error.h"

namespace vmmctl {
namespace {

std::string Where(const Address& address) {
  return absl::StrCat("cannot connect to vmmd at ", address.address,
                      address.source == "--address" ? "" : absl::StrCat(" (", address.source, ")"));
}

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
          absl::StrCat(Where(address), ": no socket at ", address.unix_path, kIsVmmdRunningHint));
    case ECONNREFUSED:
      return absl::UnavailableError(absl::StrCat(Where(address), ": nothing listens on ",
                                                 address.unix_path, kIsVmmdRunningHint));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(
          Where(address), ": permission denied on ", address.unix_path,
          " (is your user in the group given to vmmd's --socket_group?)"));
    default:
      return absl::UnavailableError(
          absl::StrCat(Where(address), ": connect: ", std::strerror(error), kIsVmmdRunningHint));
  }
}

gpr_timespec Deadline(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(absl::ToInt64Milliseconds(timeout), GPR_TIMESPAN));
}

std::shared_ptr<grpc::Channel> CreateChannel(const Address& address,
                                             const std::optional<ClientTls>& tls) {
  if (!tls.has_value()) {
    return grpc::CreateChannel(address.grpc_target, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls->root_certs;
  options.pem_cert_chain = tls->cert_chain;
  options.pem_private_key = tls->private_key;
  grpc::ChannelArguments arguments;
  if (!tls->server_name.empty()) arguments.SetSslTargetNameOverride(tls->server_name);
  return grpc::CreateCustomChannel(address.grpc_target, grpc::SslCredentials(options),
                                   arguments);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Address& address,
                                                       const std::optional<ClientTls>& tls,
                                                       absl::Duration timeout) {
  if (!address.unix_path.empty()) {
    absl::Status probe = ProbeUnixSocket(address);
    if (!probe.ok()) return probe;
  }
  std::shared_ptr<grpc::Channel> channel = CreateChannel(address, tls);
  const gpr_timespec deadline = Deadline(timeout);
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      const grpc::Status why = ProbeConnection(channel, deadline);
      if (why.error_code() == grpc::StatusCode::UNAVAILABLE) {
        return absl::UnavailableError(absl::StrCat(
            Where(address), ": ", ExplainConnectionError(why.error_message(), address, tls)));
      }
      // A server answered after all (or the deadline passed): look at the state again.
    }
    if (!channel->WaitForStateChange(state, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(Where(address), ": still connecting after ",
                                                      absl::FormatDuration(timeout),
                                                      kIsVmmdRunningHint));
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  return channel;
}

}  // namespace vmmctl
