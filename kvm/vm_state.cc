#include "kvm/vm_state.h"

#include "base/status_macros.h"

namespace vmmd {

absl::StatusOr<VmState> SaveVmState(const Vm& vm) {
  VmState state;
  ASSIGN_OR_RETURN(state.pic_master, vm.GetIrqchip(KVM_IRQCHIP_PIC_MASTER));
  ASSIGN_OR_RETURN(state.pic_slave, vm.GetIrqchip(KVM_IRQCHIP_PIC_SLAVE));
  ASSIGN_OR_RETURN(state.ioapic, vm.GetIrqchip(KVM_IRQCHIP_IOAPIC));
  ASSIGN_OR_RETURN(state.pit, vm.GetPit2());
  ASSIGN_OR_RETURN(state.clock, vm.GetClock());
  return state;
}

absl::Status RestoreVmState(Vm& vm, const VmState& state) {
  RETURN_IF_ERROR(vm.SetIrqchip(state.pic_master));
  RETURN_IF_ERROR(vm.SetIrqchip(state.pic_slave));
  RETURN_IF_ERROR(vm.SetIrqchip(state.ioapic));
  RETURN_IF_ERROR(vm.SetPit2(state.pit));
  return vm.SetClock(state.clock);
}

}  // namespace vmmd
