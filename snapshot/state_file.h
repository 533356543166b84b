// The state file of a snapshot: a 32-byte header, then the MachineState message.
//
//   bytes 0-7    magic "VMMDSNAP"
//   bytes 8-11   format version (little-endian), kFormatVersion of the writer
//   bytes 12-15  zero
//   bytes 16-23  payload length in bytes (little-endian)
//   bytes 24-31  CRC-64/XZ of the payload (little-endian)
//   bytes 32-    the payload: MachineState, serialised
//
// A reader refuses anything it could misread, naming what is wrong: a file that is not a
// snapshot, another format version, a truncated or longer file, a payload whose checksum
// does not match, one that does not parse, or whose own format_version disagrees.
#ifndef VMMD_SNAPSHOT_STATE_FILE_H_
#define VMMD_SNAPSHOT_STATE_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "snapshot/v1/machine_state.pb.h"

namespace vmmd::snapshot {

// Bumped whenever a reader of the old format could misread the new one.
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 32;
// A state file is a few hundred KiB at most (254 vCPUs of a few KiB each): anything larger
// is refused before it is parsed.
inline constexpr uint64_t kMaxPayloadSize = 64 << 20;

// The file's bytes for `state`, whose format_version is set to kFormatVersion.
std::string EncodeStateFile(snapshot::v1::MachineState state);

// The MachineState in `file`. INVALID_ARGUMENT, naming the part: shorter than the header,
// wrong magic, nonzero reserved bytes, a payload length beyond kMaxPayloadSize or other than
// what follows the header (truncated or trailing bytes), a checksum mismatch, a payload that
// does not parse. FAILED_PRECONDITION for another format version (header or payload).
absl::StatusOr<snapshot::v1::MachineState> DecodeStateFile(absl::string_view file);

}  // namespace vmmd::snapshot

#endif  // VMMD_SNAPSHOT_STATE_FILE_H_
