// What rebuilds a VM from its snapshot (issue 13): its VmConfig and how it was booted, to and
// from the snapshot's VmSpec message.
#ifndef VMMD_DAEMON_VM_SPEC_PROTO_H_
#define VMMD_DAEMON_VM_SPEC_PROTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "daemon/vm_config.h"
#include "snapshot/v1/machine_state.pb.h"

namespace vmmd {

struct VmSpec {
  VmConfig config;  // without id and console log: the daemon restoring it sets those
  VmBoot boot;
};

snapshot::v1::VmSpec VmSpecToProto(const VmConfig& config, const VmBoot& boot);

// INVALID_ARGUMENT naming the field ("spec.network_interfaces[0].mac is 5 bytes; a MAC is
// 6"): a MAC not of 6 bytes, an unknown boot protocol, more e820 entries than a zero page
// holds. Limits on counts and sizes are the daemon's to check, as for CreateVm.
absl::StatusOr<VmSpec> VmSpecFromProto(const snapshot::v1::VmSpec& proto);

}  // namespace vmmd

#endif  // VMMD_DAEMON_VM_SPEC_PROTO_H_
