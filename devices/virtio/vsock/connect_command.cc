#include "devices/virtio/vsock/connect_command.h"

#include <errno.h>
#include <sys/socket.h>

#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/errno_status.h"

namespace vmmd::virtio::vsock {
namespace {

absl::Status NotAConnectLine(absl::string_view line) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "vsock host connection sent \"%s\", not \"CONNECT <port>\\n\"", absl::CHexEscape(line)));
}

}  // namespace

absl::StatusOr<uint32_t> ParseConnectLine(absl::string_view line) {
  if (!absl::ConsumeSuffix(&line, "\n")) return NotAConnectLine(line);
  absl::ConsumeSuffix(&line, "\r");
  const std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.size() != 2 || !absl::EqualsIgnoreCase(words[0], "connect")) {
    return NotAConnectLine(line);
  }
  // Digits only (absl::SimpleAtoi would take a sign and blanks), at most 2^32 - 1.
  const absl::string_view digits = words[1];
  if (digits.empty() || digits.size() > 10) return NotAConnectLine(line);
  uint64_t port = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return NotAConnectLine(line);
    port = port * 10 + static_cast<uint64_t>(c - '0');
  }
  if (port > std::numeric_limits<uint32_t>::max()) return NotAConnectLine(line);
  return static_cast<uint32_t>(port);
}

absl::StatusOr<std::optional<uint32_t>> ConnectLineReader::ReadFrom(int fd) {
  char bytes[kMaxConnectLineLength];
  // line_ is shorter than the limit here: reaching it without a newline ended the read.
  const size_t room = kMaxConnectLineLength - line_.size();
  ssize_t got;
  do {
    got = ::recv(fd, bytes, room, MSG_PEEK | MSG_DONTWAIT);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<uint32_t>();
    return ::vmmd::ErrnoToStatus(errno, "recv(vsock host connection)");
  }
  if (got == 0) {
    return absl::UnavailableError(absl::StrFormat(
        "vsock host connection closed after \"%s\", before its CONNECT line ended",
        absl::CHexEscape(line_)));
  }
  // Take the peeked bytes up to and including the newline, and no further.
  const absl::string_view peeked(bytes, static_cast<size_t>(got));
  const size_t newline = peeked.find('\n');
  const size_t take = newline == absl::string_view::npos ? peeked.size() : newline + 1;
  ssize_t taken;
  do {
    taken = ::recv(fd, bytes, take, MSG_DONTWAIT);
  } while (taken < 0 && errno == EINTR);
  if (taken < 0) return ::vmmd::ErrnoToStatus(errno, "recv(vsock host connection)");
  // Only we read this socket: what was peeked is there.
  line_.append(bytes, static_cast<size_t>(taken));
  if (static_cast<size_t>(taken) == take && newline != absl::string_view::npos) {
    absl::StatusOr<uint32_t> port = ParseConnectLine(line_);
    if (!port.ok()) return port.status();
    return std::optional<uint32_t>(*port);
  }
  if (line_.size() >= kMaxConnectLineLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vsock host connection sent %d bytes without a newline: a CONNECT line is at most %d",
        line_.size(), kMaxConnectLineLength));
  }
  return std::optional<uint32_t>();
}

}  // namespace vmmd::virtio::vsock
