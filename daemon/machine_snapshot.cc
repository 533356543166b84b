#include "daemon/machine_snapshot.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "kvm/vcpu_state.h"
#include "kvm/vm_state.h"
#include "snapshot/device_state_proto.h"
#include "snapshot/kvm_state_proto.h"

namespace vmmd {
namespace {

// The virtio devices' states: transports, and what the net and vsock devices keep. On the
// device loop (or with no loop: no device can be moving).
snapshot::v1::VirtioDeviceState VirtioDeviceStateOf(const VirtioSlot& slot) {
  snapshot::v1::VirtioDeviceState state;
  state.set_id(slot.id);
  state.set_kind(slot.kind);
  *state.mutable_transport() = snapshot::MmioTransportStateToProto(slot.transport->state());
  const virtio::VirtioDevice& device = slot.transport->device();
  if (const auto* net = dynamic_cast<const virtio::NetDevice*>(&device)) {
    *state.mutable_net() = snapshot::NetDeviceStateToProto(net->state());
  } else if (const auto* vsock = dynamic_cast<const virtio::VsockDevice*>(&device)) {
    *state.mutable_vsock() = snapshot::VsockDeviceStateToProto(vsock->state());
  }
  return state;
}

}  // namespace

absl::StatusOr<snapshot::v1::MachineState> CaptureMachineState(
    const Machine& machine, absl::Span<const uint32_t> msr_indices,
    absl::FunctionRef<absl::Status()> with_devices_at_rest) {
  snapshot::v1::MachineState state;
  absl::StatusOr<size_t> xsave_bytes = machine.vm.XsaveSize();
  RETURN_IF_ERROR(HostError("XSAVE size", xsave_bytes.status()));
  for (const std::unique_ptr<Vcpu>& vcpu : machine.vcpus) {
    absl::StatusOr<VcpuState> vcpu_state = SaveVcpuState(*vcpu, msr_indices, *xsave_bytes);
    RETURN_IF_ERROR(HostError(absl::StrCat("vcpu ", vcpu->id(), " state"), vcpu_state.status()));
    *state.add_vcpus() = snapshot::VcpuStateToProto(*vcpu_state);
  }
  absl::StatusOr<VmState> vm_state = SaveVmState(machine.vm);
  RETURN_IF_ERROR(HostError("VM state", vm_state.status()));
  *state.mutable_vm() = snapshot::VmStateToProto(*vm_state);
  *state.mutable_serial() = snapshot::SerialStateToProto(machine.serial->state());
  *state.mutable_i8042() = snapshot::I8042StateToProto(machine.i8042->state());
  *state.mutable_resources() = snapshot::ResourceAllocatorStateToProto(machine.resources.state());

  absl::Status at_rest;
  auto read_devices = [&] {
    for (const std::unique_ptr<VirtioSlot>& slot : machine.virtio) {
      *state.add_virtio_devices() = VirtioDeviceStateOf(*slot);
    }
    at_rest = with_devices_at_rest();
  };
  if (machine.device_loop == nullptr) {
    read_devices();
  } else {
    RETURN_IF_ERROR(machine.device_loop->RunAndWait(read_devices));
  }
  RETURN_IF_ERROR(at_rest);
  return state;
}

}  // namespace vmmd
