// Whether vmmctl speaks TLS to vmmd, and with what: each --tls_* flag, else its $VMMD_TLS_*
// variable (as --address falls back on $VMMD_ADDRESS). Any of them set means TLS, which only
// a tcp: address can have: vmmd serves TLS on TCP only.
#ifndef VMMD_TOOLS_VMMCTL_TLS_OPTIONS_H_
#define VMMD_TOOLS_VMMCTL_TLS_OPTIONS_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "tools/vmmctl/address.h"
#include "tools/vmmctl/invocation.h"

namespace vmmctl {

inline constexpr char kTlsCaFileEnvVar[] = "VMMD_TLS_CA_FILE";
inline constexpr char kTlsCertFileEnvVar[] = "VMMD_TLS_CERT_FILE";
inline constexpr char kTlsKeyFileEnvVar[] = "VMMD_TLS_KEY_FILE";
inline constexpr char kTlsServerNameEnvVar[] = "VMMD_TLS_SERVER_NAME";

struct TlsSetting {
  std::string value;   // empty: not set
  std::string source;  // "--tls_ca_file" or "VMMD_TLS_CA_FILE", for messages; empty if unset

  bool set() const { return !value.empty(); }
};

struct TlsOptions {
  TlsSetting ca_file;      // PEM roots that vmmd's certificate must chain to; unset: the system's
  TlsSetting cert_file;    // PEM client certificate (chain), for vmmd's --tls_client_ca_file
  TlsSetting key_file;     // its PEM private key; set exactly when cert_file is
  TlsSetting server_name;  // the name vmmd's certificate must have; unset: the address's host

  // False: plaintext.
  bool enabled() const {
    return ca_file.set() || cert_file.set() || key_file.set() || server_name.set();
  }
};

// getenv(3), or a stand-in for tests.
using EnvironmentLookup = std::function<const char*(const char* name)>;

// Takes each setting from its flag, else from its variable if non-empty; the certificate and
// key as a pair, from the flags if either is given (never one file from each). INVALID_ARGUMENT
// naming the flag or variable: TLS for a unix: address, or a certificate without its key (or
// a key without its certificate).
absl::StatusOr<TlsOptions> ResolveTlsOptions(const TlsFlags& flags,
                                             const EnvironmentLookup& getenv,
                                             const Address& address);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_TLS_OPTIONS_H_
