#include "daemon/machine.h"

#include <sys/epoll.h>

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
                                                         MachineConfig config,
                                                         MachineEvents events) {
  absl::StatusOr<Vm> vm = kvm.CreateVm();
  RETURN_IF_ERROR(HostError("KVM_CREATE_VM", vm.status()));
  // Guest RAM first, before anything else is attached to the VM (Firecracker's order too):
  // KVM_SET_USER_MEMORY_REGION waits for an SRCU grace period, measured at 7.5 ms when it
  // follows KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 and at 0.1 ms when it comes first
  // (docs/benchmarks.md). The irqchip still precedes the vCPUs, as KVM requires.
  std::shared_ptr<GuestMemory> memory = std::move(config.memory);
  if (memory == nullptr) {
    absl::StatusOr<GuestMemory> created_memory = GuestMemory::Create(
        config.memory_mib << 20, config.transparent_huge_pages
                                     ? GuestMemory::HugePages::kTransparent
                                     : GuestMemory::HugePages::kNone);
    RETURN_IF_ERROR(HostError("guest memory", created_memory.status()));
    memory = std::make_shared<GuestMemory>(std::move(*created_memory));
  } else if (memory->size() != config.memory_mib << 20) {
    return absl::InvalidArgumentError(absl::StrCat("guest memory is ", memory->size(),
                                                   " bytes; the VM has ", config.memory_mib,
                                                   " MiB"));
  }
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
  machine->acpi_sleep = std::make_unique<AcpiSleep>([stop = events.stop_guest] { stop("guest poweroff"); });
  RETURN_IF_ERROR(machine->io_bus.Register(AcpiSleep::kBase, AcpiSleep::kPortCount,
                                           machine->acpi_sleep.get()));
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
  if (!config.virtio_devices.empty()) {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create(absl::StrCat(config.name, "/devices"));
    RETURN_IF_ERROR(HostError("device event loop", loop.status()));
    machine->device_loop = std::move(*loop);
  }
  for (VirtioDeviceConfig& device : config.virtio_devices) {
    RETURN_IF_ERROR(machine->AddVirtioDevice(
        std::move(device), config.virtio_ring_features
                               ? 0
                               : virtio::kFeatureEventIdx | virtio::kFeatureIndirectDesc));
  }
  return machine;
}

std::vector<int> Machine::VcpuWritableFds() const {
  std::vector<int> fds = {serial_interrupt.fd()};
  for (const std::unique_ptr<VirtioSlot>& slot : virtio) {
    for (size_t index = 0; index < slot->transport->queue_count(); ++index) {
      fds.push_back(slot->transport->queue_notifier(index).fd());
    }
  }
  return fds;
}

absl::Status Machine::AddVirtioDevice(VirtioDeviceConfig config, uint64_t withheld_features) {
  const std::string what = absl::StrCat(config.kind, " ", config.id);
  // Too many devices for the IRQ lines is the request's fault, not the host's.
  ASSIGN_OR_RETURN(uint32_t irq, resources.AllocateIrq());
  ASSIGN_OR_RETURN(MmioWindow window, resources.AllocateMmio(virtio::mmio::kWindowSize));
  absl::StatusOr<EventFdInterrupt> interrupt = EventFdInterrupt::Create();
  RETURN_IF_ERROR(HostError(absl::StrCat(what, " interrupt"), interrupt.status()));
  auto slot = std::make_unique<VirtioSlot>(VirtioSlot{std::move(config.id),
                                                      std::move(config.kind), window, irq,
                                                      std::move(*interrupt), nullptr});
  absl::StatusOr<std::unique_ptr<virtio::MmioTransport>> transport =
      virtio::MmioTransport::Create(std::move(config.device), memory, &slot->interrupt,
                                    withheld_features);
  RETURN_IF_ERROR(HostError(what, transport.status()));
  slot->transport = std::move(*transport);
  RETURN_IF_ERROR(HostError(absl::StrCat(what, " irqfd"), vm.RegisterIrqfd(slot->interrupt.fd(), irq)));
  RETURN_IF_ERROR(mmio_bus.Register(window.base, window.size, slot->transport.get()));
  virtio::MmioTransport* transport_ptr = slot->transport.get();
  for (size_t index = 0; index < transport_ptr->queue_count(); ++index) {
    const EventFd& notifier = transport_ptr->queue_notifier(index);
    // The guest's kick stays in the kernel: KVM signals the eventfd on a 4-byte write of the
    // queue's index to QueueNotify (virtio 1.2, 4.2.3.3).
    RETURN_IF_ERROR(HostError(
        absl::StrCat(what, " ioeventfd"),
        vm.RegisterIoeventfd(notifier.fd(), GuestAddress(window.base + virtio::mmio::kQueueNotify),
                             4, index)));
    RETURN_IF_ERROR(HostError(absl::StrCat(what, " queue watch"),
                              device_loop->Add(notifier.fd(), EPOLLIN,
                                               [transport_ptr, index, &notifier](uint32_t) {
                                                 notifier.Consume();
                                                 transport_ptr->ProcessQueue(index);
                                               })));
  }
  RETURN_IF_ERROR(HostError(absl::StrCat(what, " backend"), transport_ptr->AttachBackend(*device_loop)));
  virtio.push_back(std::move(slot));
  return absl::OkStatus();
}

}  // namespace vmmd
