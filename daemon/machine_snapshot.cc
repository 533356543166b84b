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

// Puts one virtio device's state back: the device's own first, then its transport (whose
// Restore activates a live device with the features it had). On the device loop.
absl::Status RestoreVirtioDevice(VirtioSlot& slot, const snapshot::v1::VirtioDeviceState& state,
                                 const std::string& where) {
  virtio::VirtioDevice& device = slot.transport->device();
  if (auto* net = dynamic_cast<virtio::NetDevice*>(&device)) {
    if (!state.has_net()) return absl::InvalidArgumentError(absl::StrCat(where, ".net is missing"));
    ASSIGN_OR_RETURN(virtio::NetDeviceState net_state,
                     snapshot::NetDeviceStateFromProto(state.net(), where + ".net"));
    if (absl::Status restored = net->Restore(net_state); !restored.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".net: ", restored.message()));
    }
  }
  ASSIGN_OR_RETURN(virtio::MmioTransportState transport,
                   snapshot::MmioTransportStateFromProto(state.transport(), where + ".transport"));
  if (absl::Status restored = slot.transport->Restore(transport); !restored.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".transport: ", restored.message()));
  }
  // The snapshot holds no vsock connection (their host ends are gone with the old process):
  // the driver is told to drop its own and to read the guest CID again, which a restore may
  // have changed (virtio 1.2, 5.10.6.7).
  if (auto* vsock = dynamic_cast<virtio::VsockDevice*>(&device)) vsock->PostTransportReset();
  return absl::OkStatus();
}

}  // namespace

absl::Status RestoreMachineState(Machine& machine, const snapshot::v1::MachineState& state) {
  if (static_cast<size_t>(state.vcpus_size()) != machine.vcpus.size()) {
    return absl::InvalidArgumentError(absl::StrCat("vcpus: the state has ", state.vcpus_size(),
                                                   "; the VM has ", machine.vcpus.size()));
  }
  if (static_cast<size_t>(state.virtio_devices_size()) != machine.virtio.size()) {
    return absl::InvalidArgumentError(absl::StrCat("virtio_devices: the state has ",
                                                   state.virtio_devices_size(), "; the VM has ",
                                                   machine.virtio.size()));
  }
  for (size_t i = 0; i < machine.virtio.size(); ++i) {
    const snapshot::v1::VirtioDeviceState& device = state.virtio_devices(i);
    const VirtioSlot& slot = *machine.virtio[i];
    if (device.id() != slot.id || device.kind() != slot.kind) {
      return absl::InvalidArgumentError(absl::StrCat("virtio_devices[", i, "] is ", device.kind(),
                                                     " \"", device.id(), "\"; the VM has ",
                                                     slot.kind, " \"", slot.id, "\" there"));
    }
  }
  // The windows and lines the guest knows its devices by must be where this VM put them.
  if (snapshot::ResourceAllocatorStateFromProto(state.resources()) != machine.resources.state()) {
    return absl::InvalidArgumentError(
        "resources: the state's MMIO windows and IRQ lines are not the ones this VM's devices "
        "have");
  }
  ASSIGN_OR_RETURN(VmState vm_state, snapshot::VmStateFromProto(state.vm(), "vm"));
  RETURN_IF_ERROR(HostError("VM state", RestoreVmState(machine.vm, vm_state)));
  for (size_t i = 0; i < machine.vcpus.size(); ++i) {
    const std::string where = absl::StrCat("vcpus[", i, "]");
    ASSIGN_OR_RETURN(VcpuState vcpu_state, snapshot::VcpuStateFromProto(state.vcpus(i), where));
    RETURN_IF_ERROR(HostError(where, RestoreVcpuState(*machine.vcpus[i], vcpu_state)));
  }
  ASSIGN_OR_RETURN(SerialState serial, snapshot::SerialStateFromProto(state.serial(), "serial"));
  if (absl::Status restored = machine.serial->Restore(serial); !restored.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("serial: ", restored.message()));
  }
  ASSIGN_OR_RETURN(I8042State i8042, snapshot::I8042StateFromProto(state.i8042(), "i8042"));
  if (absl::Status restored = machine.i8042->Restore(i8042); !restored.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("i8042: ", restored.message()));
  }
  if (machine.device_loop == nullptr) return absl::OkStatus();
  absl::Status devices;
  RETURN_IF_ERROR(machine.device_loop->RunAndWait([&] {
    for (size_t i = 0; i < machine.virtio.size() && devices.ok(); ++i) {
      devices = RestoreVirtioDevice(*machine.virtio[i], state.virtio_devices(i),
                                    absl::StrCat("virtio_devices[", i, "]"));
    }
  }));
  RETURN_IF_ERROR(devices);
  for (const std::unique_ptr<VirtioSlot>& slot : machine.virtio) {
    for (size_t index = 0; index < slot->transport->queue_count(); ++index) {
      slot->transport->queue_notifier(index).Signal();
    }
  }
  return absl::OkStatus();
}

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
