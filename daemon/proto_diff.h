// The first field in which two messages of one type differ, as a path a client can read
// ("drives[1].path", "labels[\"app\"]", "boot.cmdline"): how an idempotent create tells a
// retry of the same request from a different request for the same vm_id.
#ifndef VMMD_DAEMON_PROTO_DIFF_H_
#define VMMD_DAEMON_PROTO_DIFF_H_

#include <string>

#include "google/protobuf/message.h"

namespace vmmd {

// Empty when `a` and `b` (of one type) are equal. Fields are compared in declaration order;
// a map's entries by key, in key order; a repeated field element by element (a length
// difference names the first index one side lacks).
std::string FirstDifference(const google::protobuf::Message& a, const google::protobuf::Message& b);

}  // namespace vmmd

#endif  // VMMD_DAEMON_PROTO_DIFF_H_
