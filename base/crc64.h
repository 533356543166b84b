// CRC-64/XZ (ECMA-182's polynomial, reflected; what xz uses): a checksum that catches every
// burst error up to 64 bits and any odd number of flipped bits, for files vmmd writes and
// reads back (a snapshot's state). Not a defence against someone forging a file.
#ifndef VMMD_BASE_CRC64_H_
#define VMMD_BASE_CRC64_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace vmmd {

// The CRC of `bytes`; pass a previous result as `crc` to continue over more bytes.
uint64_t Crc64(absl::string_view bytes, uint64_t crc = 0);

}  // namespace vmmd

#endif  // VMMD_BASE_CRC64_H_
