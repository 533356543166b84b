// The files TlsOptions name, read: what grpc::SslCredentials is made from. Read before
// connecting, so that a wrong path is reported as such, naming its flag, rather than as a
// failed handshake.
#ifndef VMMD_TOOLS_VMMCTL_CLIENT_TLS_H_
#define VMMD_TOOLS_VMMCTL_CLIENT_TLS_H_

#include <string>

#include "absl/status/statusor.h"
#include "tools/vmmctl/tls_options.h"

namespace vmmctl {

struct ClientTls {
  std::string root_certs;   // PEM; empty: the system's CAs
  std::string cert_chain;   // PEM; with private_key, or both empty
  std::string private_key;  // PEM
  std::string server_name;  // empty: the address's host
  // Where root_certs came from, for advice after a failed handshake: "--tls_ca_file ca.pem";
  // empty for the system's CAs.
  std::string roots_origin;
};

// INVALID_ARGUMENT naming the flag (or variable) and the path: a file that cannot be read,
// holds no PEM block, or is over 1 MiB.
absl::StatusOr<ClientTls> LoadClientTls(const TlsOptions& options);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_CLIENT_TLS_H_
