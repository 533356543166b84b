// The line a host program sends first on the device's Unix socket to reach a guest port:
// "CONNECT <port>\n" (Firecracker's docs/vsock.md; like Firecracker, "connect" in any case,
// blanks around the words). The device answers "OK <host port>\n" once the guest accepts
// (connection.h) and closes the socket if it does not.
//
// The reader takes the line from a non-blocking socket without consuming a byte after its
// newline (a host program may write its first data right behind it), and refuses a line
// longer than kMaxConnectLineLength, so a host program cannot make the device hold more.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_CONNECT_COMMAND_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_CONNECT_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmd::virtio::vsock {

// "CONNECT 4294967295\n" is 19 bytes; Firecracker reads at most 32.
inline constexpr size_t kMaxConnectLineLength = 32;

// The port of a CONNECT line, newline included. INVALID_ARGUMENT, quoting the line, when it
// is not "connect" and a decimal port below 2^32 between blanks, ending in "\n" (or
// "\r\n").
absl::StatusOr<uint32_t> ParseConnectLine(absl::string_view line);

class ConnectLineReader {
 public:
  // Reads what `fd` holds of the line. The port once the newline is in; nullopt while more
  // is to come (EAGAIN). INVALID_ARGUMENT for a line that is not a CONNECT command or that
  // reaches kMaxConnectLineLength bytes without a newline; UNAVAILABLE when the host program
  // closed first; other recv errors through ErrnoToStatus.
  absl::StatusOr<std::optional<uint32_t>> ReadFrom(int fd);

  const std::string& line() const { return line_; }

 private:
  std::string line_;
};

}  // namespace vmmd::virtio::vsock

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_CONNECT_COMMAND_H_
