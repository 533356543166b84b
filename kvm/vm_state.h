// VmState: what KVM holds for the VM as a whole, read out and put back (snapshots): the
// in-kernel PIC pair and IOAPIC (Vm::CreateIrqchip), the PIT (Vm::CreatePit2) and kvmclock's
// time base. Plain values, serialised as they are.
#ifndef VMMD_KVM_VM_STATE_H_
#define VMMD_KVM_VM_STATE_H_

#include <linux/kvm.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kvm/vm.h"

namespace vmmd {

struct VmState {
  kvm_irqchip pic_master = {};
  kvm_irqchip pic_slave = {};
  kvm_irqchip ioapic = {};
  kvm_pit_state2 pit = {};
  kvm_clock_data clock = {};
};

// Reads `vm`'s state; its vCPUs must not be running. Errors name the ioctl.
absl::StatusOr<VmState> SaveVmState(const Vm& vm);

// Puts `state` into a VM built like the saved one (irqchip and PIT created), before its
// vCPUs run. The clock is set to the saved time: the guest sees no time pass while it was
// saved. Errors name the ioctl.
absl::Status RestoreVmState(Vm& vm, const VmState& state);

}  // namespace vmmd

#endif  // VMMD_KVM_VM_STATE_H_
