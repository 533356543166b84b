// KVM's vCPU and VM state (kvm/vcpu_state.h, kvm/vm_state.h) to and from a snapshot's
// MachineState messages. KVM's structures travel as their bytes; reading them back checks
// every size, so a message from another layout is refused, never half-read.
#ifndef VMMD_SNAPSHOT_KVM_STATE_PROTO_H_
#define VMMD_SNAPSHOT_KVM_STATE_PROTO_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvm/vcpu_state.h"
#include "kvm/vm_state.h"
#include "snapshot/v1/machine_state.pb.h"

namespace vmmd::snapshot {

v1::KvmVcpuState VcpuStateToProto(const VcpuState& state);
// INVALID_ARGUMENT naming `where` and the field ("vcpus[1].regs is 100 bytes; struct
// kvm_regs is 144"): a structure of the wrong size, CPUID not whole entries or more than
// KVM's 256, an XSAVE area smaller than 4 KiB or not whole words.
absl::StatusOr<VcpuState> VcpuStateFromProto(const v1::KvmVcpuState& proto, absl::string_view where);

v1::KvmVmState VmStateToProto(const VmState& state);
// INVALID_ARGUMENT as VcpuStateFromProto; an irqchip whose chip_id is not the one its field
// names is refused too.
absl::StatusOr<VmState> VmStateFromProto(const v1::KvmVmState& proto, absl::string_view where);

}  // namespace vmmd::snapshot

#endif  // VMMD_SNAPSHOT_KVM_STATE_PROTO_H_
