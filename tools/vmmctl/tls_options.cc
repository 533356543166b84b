#include "tools/vmmctl/tls_options.h"

#include "absl/strings/str_cat.h"

namespace vmmctl {
namespace {

TlsSetting FromFlag(const std::optional<std::string>& flag, const char* flag_name) {
  if (!flag.has_value()) return {};
  return {*flag, absl::StrCat("--", flag_name)};
}

TlsSetting FromEnvironment(const EnvironmentLookup& getenv, const char* variable) {
  const char* value = getenv(variable);
  if (value == nullptr || value[0] == '\0') return {};
  return {value, variable};
}

TlsSetting FlagElseEnvironment(const std::optional<std::string>& flag, const char* flag_name,
                               const EnvironmentLookup& getenv, const char* variable) {
  TlsSetting setting = FromFlag(flag, flag_name);
  return setting.set() ? setting : FromEnvironment(getenv, variable);
}

// The first setting that asks for TLS, to name in an error.
const TlsSetting& FirstSet(const TlsOptions& options) {
  for (const TlsSetting* setting :
       {&options.ca_file, &options.cert_file, &options.key_file, &options.server_name}) {
    if (setting->set()) return *setting;
  }
  return options.ca_file;  // unreachable when options.enabled()
}

}  // namespace

absl::StatusOr<TlsOptions> ResolveTlsOptions(const TlsFlags& flags,
                                             const EnvironmentLookup& getenv,
                                             const Address& address) {
  TlsOptions options;
  options.ca_file = FlagElseEnvironment(flags.ca_file, "tls_ca_file", getenv, kTlsCaFileEnvVar);
  options.server_name =
      FlagElseEnvironment(flags.server_name, "tls_server_name", getenv, kTlsServerNameEnvVar);
  // A certificate from a flag with the key from the environment would be someone else's key.
  const bool pair_from_flags = flags.cert_file.has_value() || flags.key_file.has_value();
  if (pair_from_flags) {
    options.cert_file = FromFlag(flags.cert_file, "tls_cert_file");
    options.key_file = FromFlag(flags.key_file, "tls_key_file");
  } else {
    options.cert_file = FromEnvironment(getenv, kTlsCertFileEnvVar);
    options.key_file = FromEnvironment(getenv, kTlsKeyFileEnvVar);
  }
  if (!options.enabled()) return options;

  if (!address.unix_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        FirstSet(options).source, " asks for TLS, but ", address.source, " ", address.address,
        " is a Unix socket: vmmd serves TLS on tcp: addresses only (a socket is protected by "
        "its file permissions)"));
  }
  if (options.cert_file.set() != options.key_file.set()) {
    const bool has_cert = options.cert_file.set();
    const std::string& given = has_cert ? options.cert_file.source : options.key_file.source;
    const char* missing = pair_from_flags ? (has_cert ? "--tls_key_file" : "--tls_cert_file")
                                          : (has_cert ? kTlsKeyFileEnvVar : kTlsCertFileEnvVar);
    return absl::InvalidArgumentError(absl::StrCat(
        given, " needs ", missing, " too: a client certificate goes with its private key"));
  }
  return options;
}

}  // namespace vmmctl
