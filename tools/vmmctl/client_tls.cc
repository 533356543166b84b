#include "tools/vmmctl/client_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vmmctl {
namespace {

// Certificates and keys are a few KiB, a CA bundle a few hundred: more is the wrong file.
constexpr size_t kMaxPemFileBytes = 1 << 20;

absl::Status Unreadable(const TlsSetting& file, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(file.source, ": cannot read ", file.value, ": ", why));
}

absl::StatusOr<std::string> ReadPemFile(const TlsSetting& file) {
  const int fd = ::open(file.value.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Unreadable(file, std::strerror(errno));
  std::string contents;
  char buffer[16384];
  ssize_t got;
  while ((got = ::read(fd, buffer, sizeof(buffer))) != 0) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 || contents.size() + got > kMaxPemFileBytes) break;
    contents.append(buffer, static_cast<size_t>(got));
  }
  const int error = errno;
  ::close(fd);
  if (got < 0) return Unreadable(file, std::strerror(error));
  if (got > 0) return Unreadable(file, absl::StrCat("larger than ", kMaxPemFileBytes, " bytes"));
  if (!absl::StrContains(contents, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.source, ": ", file.value, " holds no PEM data"));
  }
  return contents;
}

}  // namespace

absl::StatusOr<ClientTls> LoadClientTls(const TlsOptions& options) {
  ClientTls tls;
  if (options.ca_file.set()) {
    absl::StatusOr<std::string> roots = ReadPemFile(options.ca_file);
    if (!roots.ok()) return roots.status();
    tls.root_certs = *std::move(roots);
    tls.roots_origin = absl::StrCat(options.ca_file.source, " ", options.ca_file.value);
  }
  if (options.cert_file.set()) {
    absl::StatusOr<std::string> chain = ReadPemFile(options.cert_file);
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> key = ReadPemFile(options.key_file);
    if (!key.ok()) return key.status();
    tls.cert_chain = *std::move(chain);
    tls.private_key = *std::move(key);
  }
  tls.server_name = options.server_name.value;
  return tls;
}

}  // namespace vmmctl
