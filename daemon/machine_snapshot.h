// A Machine's state read out for a snapshot (issue 13): every vCPU's and the VM's KVM state,
// the UART's, the i8042's, the MMIO windows and IRQ lines handed out, and each virtio
// device's transport and device state, as the snapshot's MachineState message.
//
// The vCPUs must be parked (the VM PAUSED): their ioctls are then safe from this thread. The
// devices are read on the device loop, inside EventLoop::RunAndWait, where no queue is
// served and no backend writes guest memory; `with_devices_at_rest` runs there too, after
// the devices are read (it writes guest memory out), so memory and device state agree.
#ifndef VMMD_DAEMON_MACHINE_SNAPSHOT_H_
#define VMMD_DAEMON_MACHINE_SNAPSHOT_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/machine.h"
#include "snapshot/v1/machine_state.pb.h"

namespace vmmd {

// `msr_indices` is KvmSystem::GetMsrIndexList(). Errors: KVM's, named (INTERNAL as
// HostError makes them), what `with_devices_at_rest` returns, and FAILED_PRECONDITION when
// the device loop has stopped.
absl::StatusOr<snapshot::v1::MachineState> CaptureMachineState(
    const Machine& machine, absl::Span<const uint32_t> msr_indices,
    absl::FunctionRef<absl::Status()> with_devices_at_rest);

// Puts `state` back into `machine`, freshly built from the snapshot's VmSpec (the same vCPUs
// and devices in the same order, its RAM the snapshot's memory file) and not yet run: the
// KVM VM (irqchip, PIT, clock), each vCPU, the UART, the i8042, and each virtio device's
// state and transport, the devices on the device loop. Then signals every queue's notifier,
// so that whatever the guest had queued and the device not yet seen is served.
// INVALID_ARGUMENT naming the part for a state that does not fit the machine (another vCPU
// count, devices or windows, a malformed structure); KVM's refusals as HostError makes them.
absl::Status RestoreMachineState(Machine& machine, const snapshot::v1::MachineState& state);

}  // namespace vmmd

#endif  // VMMD_DAEMON_MACHINE_SNAPSHOT_H_
