#include "tools/vmmctl/address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace vmmctl {
namespace {

absl::Status BadAddress(absl::string_view address, absl::string_view source,
                        absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      source, " '", address, "': ", why, " (use unix:/path/to.sock or tcp:HOST:PORT)"));
}

}  // namespace

absl::StatusOr<Address> ParseAddress(absl::string_view address, absl::string_view source) {
  Address result;
  result.address = std::string(address);
  result.source = std::string(source);
  absl::string_view rest = address;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    absl::string_view path = rest;
    absl::ConsumePrefix(&path, "//");  // unix:///abs/path
    if (path.empty()) return BadAddress(address, source, "no socket path");
    result.unix_path = std::string(path);
    result.grpc_target = absl::StrCat("unix:", path);
    return result;
  }
  if (absl::ConsumePrefix(&rest, "tcp:")) {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return BadAddress(address, source, "expected HOST:PORT after tcp:");
    }
    const absl::string_view port = rest.substr(colon + 1);
    uint32_t port_number = 0;
    if (!absl::SimpleAtoi(port, &port_number) || port_number == 0 || port_number > 65535 ||
        !absl::ascii_isdigit(port.front())) {
      return BadAddress(address, source, absl::StrCat("'", port, "' is not a port number"));
    }
    result.grpc_target = std::string(rest);
    return result;
  }
  return BadAddress(address, source, "unknown address form");
}

absl::StatusOr<Address> ResolveAddress(const std::optional<std::string>& flag_value,
                                       const char* env_value) {
  if (flag_value.has_value()) return ParseAddress(*flag_value, "--address");
  if (env_value != nullptr && env_value[0] != '\0') return ParseAddress(env_value, kAddressEnvVar);
  return ParseAddress(kDefaultAddress, "default address");
}

}  // namespace vmmctl
