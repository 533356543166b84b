#include "daemon/listen_address.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace vmmd {
namespace {

absl::StatusOr<gid_t> LookUpGroup(const std::string& group) {
  struct group* entry = ::getgrnam(group.c_str());
  if (entry == nullptr) return absl::InvalidArgumentError(absl::StrCat("--socket_group: no group ", group));
  return entry->gr_gid;
}

// Creates `directory` and missing parents, each 0750.
absl::Status MakeDirectories(const std::string& directory) {
  struct stat info;
  if (::stat(directory.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode)) return absl::FailedPreconditionError(absl::StrCat(directory, " is not a directory"));
    return absl::OkStatus();
  }
  const size_t slash = directory.rfind('/');
  if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MakeDirectories(directory.substr(0, slash)));
  if (::mkdir(directory.c_str(), 0750) != 0 && errno != EEXIST) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("mkdir(", directory, ")"));
  }
  // mkdir's mode is filtered by the umask; say exactly what we mean.
  if (::chmod(directory.c_str(), 0750) != 0) return ::vmmd::ErrnoToStatus(errno, "chmod");
  return absl::OkStatus();
}

bool SomeoneListens(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
}

// Whether a listening host is reachable from this host only. Strict on purpose: a name such as
// "127.example.com" or "localhost.example.com" is not loopback, whatever it resolves to.
absl::StatusOr<bool> IsLoopbackHost(absl::string_view host) {
  if (host.empty()) return absl::InvalidArgumentError("name the host (0.0.0.0 or [::] for every address)");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return absl::InvalidArgumentError("unbalanced [ ] around an IPv6 address");
    const std::string literal(host.substr(1, host.size() - 2));
    in6_addr v6;
    if (::inet_pton(AF_INET6, literal.c_str(), &v6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(literal, " is not an IPv6 address"));
    }
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  }
  if (host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError("write an IPv6 address in brackets, e.g. [::1]:PORT");
  }
  const std::string name(host);
  in_addr v4;
  if (::inet_pton(AF_INET, name.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a host name or address"));
    }
  }
  return absl::AsciiStrToLower(name) == "localhost";
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address) {
  ListenAddress result;
  absl::string_view rest = address;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    absl::ConsumePrefix(&rest, "//");
    if (rest.empty() || rest.front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", address, ": a Unix socket needs an absolute path"));
    }
    if (rest.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", address, ": socket path too long"));
    }
    result.unix_path = std::string(rest);
    result.grpc_target = absl::StrCat("unix:", rest);
    return result;
  }
  if (absl::ConsumePrefix(&rest, "tcp:")) {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", address, ": expected tcp:HOST:PORT"));
    }
    absl::string_view host = rest.substr(0, colon);
    const absl::string_view port_text = rest.substr(colon + 1);
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535 ||
        port_text.find_first_not_of("0123456789") != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen ", address, ": the port must be a number from 1 to 65535"));
    }
    absl::StatusOr<bool> loopback = IsLoopbackHost(host);
    if (!loopback.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", address, ": ", loopback.status().message()));
    }
    result.is_unix = false;
    result.is_loopback = *loopback;
    result.grpc_target = std::string(rest);
    return result;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--listen ", address, ": use unix:/path/to.sock or tcp:127.0.0.1:PORT"));
}

absl::Status PrepareUnixSocket(const ListenAddress& address, const std::string& group) {
  if (!address.is_unix) return absl::OkStatus();
  const std::string directory = address.unix_path.substr(0, address.unix_path.rfind('/'));
  if (!directory.empty()) {
    RETURN_IF_ERROR(MakeDirectories(directory));
    if (!group.empty()) {
      ASSIGN_OR_RETURN(gid_t gid, LookUpGroup(group));
      if (::chown(directory.c_str(), -1, gid) != 0) return ::vmmd::ErrnoToStatus(errno, "chown(socket directory)");
    }
  }
  struct stat info;
  if (::lstat(address.unix_path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(address.unix_path, " exists and is not a socket"));
    }
    if (SomeoneListens(address.unix_path)) {
      return absl::FailedPreconditionError(absl::StrCat("another daemon is serving on ", address.unix_path));
    }
    ::unlink(address.unix_path.c_str());
  }
  return absl::OkStatus();
}

absl::Status RestrictUnixSocket(const ListenAddress& address, const std::string& group) {
  if (!address.is_unix) return absl::OkStatus();
  if (::chmod(address.unix_path.c_str(), 0660) != 0) return ::vmmd::ErrnoToStatus(errno, "chmod(socket)");
  if (!group.empty()) {
    ASSIGN_OR_RETURN(gid_t gid, LookUpGroup(group));
    if (::chown(address.unix_path.c_str(), -1, gid) != 0) return ::vmmd::ErrnoToStatus(errno, "chown(socket)");
  }
  return absl::OkStatus();
}

}  // namespace vmmd
