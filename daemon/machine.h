// Machine: one VM's hardware, assembled: guest RAM, the KVM VM with its irqchip and PIT, the
// vCPUs, the port-I/O and MMIO buses, and the devices on them (COM1 on IRQ 4 through an
// irqfd, the i8042's reset line, the test-exit port, and virtio devices each behind a
// virtio-mmio transport at a window and IRQ line from the resource allocator). It knows
// nothing of the lifecycle: what its devices ask for (console bytes, a guest's reset or
// exit) leaves through MachineEvents. Built and released on the VM's worker; vCPU threads
// use it while they run, and the device event loop serves the virtio queues.
#ifndef VMMD_DAEMON_MACHINE_H_
#define VMMD_DAEMON_MACHINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/event_loop.h"
#include "daemon/coalesced_port_writes.h"
#include "devices/acpi_sleep.h"
#include "devices/eventfd_interrupt.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/mmio_bus.h"
#include "devices/port_write_observer.h"
#include "devices/resource_allocator.h"
#include "devices/serial.h"
#include "devices/test_exit.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/virtio_device.h"
#include "kvm/guest_memory.h"
#include "kvm/kvm_system.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace vmmd {

// A virtio device to put on the MMIO bus, in the order Linux should find them.
struct VirtioDeviceConfig {
  std::string id;    // what BootInfo.devices calls it (a drive_id, "rng")
  std::string kind;  // "virtio-blk", "virtio-rng"
  std::unique_ptr<virtio::VirtioDevice> device;
};

struct MachineConfig {
  std::string name;  // the VM's id: its device loop's thread is "<name>/devices"
  uint32_t vcpu_count = 1;
  uint64_t memory_mib = 128;
  // Let KVM queue COM1's THR writes while the UART allows it (daemon/coalesced_port_writes.h).
  bool coalesce_serial_output = true;
  // Offer virtio drivers VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC where a device serves
  // them; false only to measure what they buy (tools/bench).
  bool virtio_ring_features = true;
  // Back guest RAM with transparent huge pages (GuestMemory::HugePages): faster guests, less
  // density.
  bool transparent_huge_pages = false;
  // Set: this RAM (a snapshot's, GuestMemory::MapFile) instead of fresh zeroed RAM; it must
  // be memory_mib MiB.
  std::unique_ptr<GuestMemory> memory;
  std::vector<VirtioDeviceConfig> virtio_devices;
};

// One virtio device as the guest finds it: its transport at `window`, interrupting on `irq`.
struct VirtioSlot {
  std::string id;
  std::string kind;
  MmioWindow window;
  uint32_t irq = 0;
  EventFdInterrupt interrupt;  // an irqfd on `irq`
  // Shared so GetVm can read its counters from another thread while the VM lives.
  std::shared_ptr<virtio::MmioTransport> transport;
};

// What the devices ask of the VM. Called on vCPU threads (and the worker); must outlive the
// Machine.
struct MachineEvents {
  std::function<void(uint8_t byte)> console_output;
  // The guest reset itself (i8042), reported an exit code (test-exit port) or powered off
  // (ACPI S5).
  std::function<void(std::string reason)> stop_guest;
  // The guest wrote one of COM1's registers other than THR: what it allows may have changed.
  std::function<void()> serial_registers_changed;
};

// Members are destroyed in reverse: devices, then vCPUs, then the VM. Guest RAM is shared
// with the Vm and its vCPUs (Vm::MapGuestMemory), so it outlives their memslots whatever the
// order here.
struct Machine {
  // Errors from KVM are the host's (INTERNAL, or RESOURCE_EXHAUSTED when out of memory),
  // never the client's INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<Machine>> Create(const KvmSystem& kvm,
                                                         MachineConfig config,
                                                         MachineEvents events);

  std::shared_ptr<GuestMemory> memory;
  Vm vm;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  EventFdInterrupt serial_interrupt;
  std::unique_ptr<Serial> serial;
  std::unique_ptr<PortWriteObserver> serial_port;  // COM1 as the bus sees it
  std::unique_ptr<I8042> i8042;
  std::unique_ptr<TestExit> test_exit;
  std::unique_ptr<AcpiSleep> acpi_sleep;  // the FADT's sleep registers: S5 powers off
  IoBus io_bus;
  MmioBus mmio_bus;
  // COM1's THR writes queued in KVM instead of exiting each; null where KVM cannot.
  std::unique_ptr<CoalescedPortWrites> serial_writes;
  ResourceAllocator resources;
  std::vector<std::unique_ptr<VirtioSlot>> virtio;
  // Serves the virtio queues; null without virtio devices. Declared after them, so stopped
  // (its thread joined) before they go.
  std::unique_ptr<EventLoop> device_loop;

  // The fds a vCPU thread of this machine writes: COM1's irqfd, and each virtio queue's
  // notifier (the transport signals it for a QueueNotify that reached userspace, and kicks
  // every queue at DRIVER_OK). The seccomp filter allows these and no others.
  std::vector<int> VcpuWritableFds() const;

 private:
  // Puts `config`'s device on the MMIO bus: window, IRQ line and irqfd, transport, an
  // ioeventfd per queue on QueueNotify, watched by device_loop.
  absl::Status AddVirtioDevice(VirtioDeviceConfig config, uint64_t withheld_features);
};

// A host-side failure while building or programming a VM, named: keeps RESOURCE_EXHAUSTED,
// makes everything else INTERNAL (a client must not read a KVM EINVAL as its own fault).
absl::Status HostError(absl::string_view what, const absl::Status& status);

}  // namespace vmmd

#endif  // VMMD_DAEMON_MACHINE_H_
