#include "snapshot/state_file.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "base/crc64.h"

namespace vmmd::snapshot {
namespace {

constexpr char kMagic[8] = {'V', 'M', 'M', 'D', 'S', 'N', 'A', 'P'};

void PutLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLittleEndian(absl::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= uint64_t{static_cast<uint8_t>(in[offset + i])} << (8 * i);
  }
  return value;
}

absl::Status VersionMismatch(absl::string_view where, uint64_t version) {
  return absl::FailedPreconditionError(absl::StrFormat(
      "snapshot state file: %s says format version %d; this vmmd reads version %d only "
      "(snapshots are restored by the vmmd version that wrote them)",
      where, version, kFormatVersion));
}

}  // namespace

std::string EncodeStateFile(snapshot::v1::MachineState state) {
  state.set_format_version(kFormatVersion);
  std::string payload;
  state.SerializeToString(&payload);
  std::string file(kMagic, sizeof(kMagic));
  PutLittleEndian(file, kFormatVersion, 4);
  PutLittleEndian(file, 0, 4);
  PutLittleEndian(file, payload.size(), 8);
  PutLittleEndian(file, Crc64(payload), 8);
  file += payload;
  return file;
}

absl::StatusOr<snapshot::v1::MachineState> DecodeStateFile(absl::string_view file) {
  if (file.size() < kHeaderSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshot state file is %d bytes, shorter than its %d-byte header (truncated?)",
        file.size(), kHeaderSize));
  }
  if (std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(
        "snapshot state file does not start with \"VMMDSNAP\": not a vmmd snapshot");
  }
  const uint64_t version = GetLittleEndian(file, 8, 4);
  if (version != kFormatVersion) return VersionMismatch("its header", version);
  if (GetLittleEndian(file, 12, 4) != 0) {
    return absl::InvalidArgumentError("snapshot state file: header bytes 12-15 must be zero");
  }
  const uint64_t length = GetLittleEndian(file, 16, 8);
  const uint64_t present = file.size() - kHeaderSize;
  if (length > kMaxPayloadSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshot state file: payload length %d is more than the %d bytes allowed", length,
        kMaxPayloadSize));
  }
  if (length != present) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshot state file: the header says %d payload bytes, the file has %d (%s)", length,
        present, present < length ? "truncated" : "trailing bytes"));
  }
  const absl::string_view payload = file.substr(kHeaderSize);
  const uint64_t expected = GetLittleEndian(file, 24, 8);
  const uint64_t actual = Crc64(payload);
  if (actual != expected) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshot state file: payload checksum %#018x, the header says %#018x (corrupted)",
        actual, expected));
  }
  snapshot::v1::MachineState state;
  if (!state.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError("snapshot state file: the payload does not parse as MachineState");
  }
  if (state.format_version() != kFormatVersion) {
    return VersionMismatch("its payload", state.format_version());
  }
  return state;
}

}  // namespace vmmd::snapshot
