#include "daemon/machine.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "boot/layout.h"
#include "glog/logging.h"

namespace vmmd {

absl::Status HostError(absl::string_view what, const absl::Status& status) {
  if (status.ok()) return status;
  const absl::StatusCode code = status.code() == absl::StatusCode::kResourceExhausted
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat(what, ": ", status.message()));
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Create(const KvmSystem& kvm,
                                                         const MachineConfig& config,
                                                         MachineEvents events) {
  absl::StatusOr<Vm> vm = kvm.CreateVm();
  RETURN_IF_ERROR(HostError("KVM_CREATE_VM", vm.status()));
  // Guest RAM first, before anything else is attached to the VM (Firecracker's order too):
  // KVM_SET_USER_MEMORY_REGION waits for an SRCU grace period, measured at 7.5 ms when it
  // follows KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 and at 0.1 ms when it comes first
  // (docs/benchmarks.md). The irqchip still precedes the vCPUs, as KVM requires.
  absl::StatusOr<GuestMemory> created_memory = GuestMemory::Create(config.memory_mib << 20);
  RETURN_IF_ERROR(HostError("guest memory", created_memory.status()));
  auto memory = std::make_shared<GuestMemory>(std::move(*created_memory));
  RETURN_IF_ERROR(HostError("memory registration", vm->MapGuestMemory(memory)));
  RETURN_IF_ERROR(HostError("TSS", vm->SetTssAddress(GuestAddress(layout::kKvmTssAddress))));
  RETURN_IF_ERROR(HostError("identity map",
                            vm->SetIdentityMapAddress(GuestAddress(layout::kKvmIdentityMapAddress))));
  RETURN_IF_ERROR(HostError("irqchip", vm->CreateIrqchip()));
  RETURN_IF_ERROR(HostError("PIT", vm->CreatePit2()));
  absl::StatusOr<EventFdInterrupt> interrupt = EventFdInterrupt::Create();
  RETURN_IF_ERROR(HostError("serial interrupt", interrupt.status()));
  RETURN_IF_ERROR(HostError("serial irqfd", vm->RegisterIrqfd(interrupt->fd(), Serial::kCom1Irq)));

  auto machine = std::unique_ptr<Machine>(
      new Machine{std::move(memory), std::move(*vm), {}, std::move(*interrupt)});
  for (uint32_t id = 0; id < config.vcpu_count; ++id) {
    absl::StatusOr<std::unique_ptr<Vcpu>> vcpu = machine->vm.CreateVcpu(id);
    RETURN_IF_ERROR(HostError(absl::StrCat("vcpu ", id), vcpu.status()));
    machine->vcpus.push_back(std::move(*vcpu));
  }

  machine->serial = std::make_unique<Serial>(&machine->serial_interrupt,
                                             std::move(events.console_output));
  machine->serial_port = std::make_unique<PortWriteObserver>(
      *machine->serial, [changed = std::move(events.serial_registers_changed)](uint16_t offset) {
        // Not THR (offset 0): in interrupt mode every byte exits there, and it changes nothing.
        if (offset != 0) changed();
      });
  machine->i8042 = std::make_unique<I8042>([stop = events.stop_guest] { stop("guest reset"); });
  machine->test_exit = std::make_unique<TestExit>([stop = events.stop_guest](uint32_t code) {
    stop(absl::StrCat("guest exit code ", code));
  });
  RETURN_IF_ERROR(machine->io_bus.Register(Serial::kCom1Base, Serial::kPortCount,
                                           machine->serial_port.get()));
  RETURN_IF_ERROR(machine->io_bus.Register(I8042::kBase, I8042::kPortCount, machine->i8042.get()));
  RETURN_IF_ERROR(machine->io_bus.Register(TestExit::kBase, TestExit::kPortCount,
                                           machine->test_exit.get()));
  if (config.coalesce_serial_output) {
    absl::StatusOr<std::unique_ptr<CoalescedPortWrites>> serial_writes =
        CoalescedPortWrites::Create(kvm, machine->vm, *machine->vcpus[0], machine->io_bus,
                                    Serial::kCom1Base);
    if (serial_writes.ok()) {
      machine->serial_writes = std::move(*serial_writes);
    } else {
      // Slower (an exit per byte), not wrong.
      LOG_FIRST_N(WARNING, 1) << "COM1 output not coalesced: " << serial_writes.status();
    }
  }
  return machine;
}

}  // namespace vmmd
