// --json output: a vmm.v1 message as one line of JSON, the way protobuf's JSON mapping
// writes it with the .proto field names and every field present (zeros included). 64-bit
// integers are strings, as proto3's JSON mapping says.
#ifndef VMMD_TOOLS_VMMCTL_JSON_H_
#define VMMD_TOOLS_VMMCTL_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace vmmctl {

// No trailing newline. INTERNAL if protobuf cannot print it (not expected for vmm.v1).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_JSON_H_
