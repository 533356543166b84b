// VirtualMachine: one guest. Its worker thread owns the KVM VM, guest memory, vCPUs and
// devices; one thread per vCPU runs KVM_RUN and dispatches exits to the devices. Public
// methods may be called from any thread; they hand the work to the worker and wait for it
// with a deadline.
#ifndef VMMD_DAEMON_VIRTUAL_MACHINE_H_
#define VMMD_DAEMON_VIRTUAL_MACHINE_H_

#include <linux/kvm.h>

#include <array>
#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "boot/configure_boot.h"
#include "boot/image_reader.h"
#include "boot/kernel_loader.h"
#include "daemon/console_log.h"
#include "daemon/event_log.h"
#include "daemon/machine.h"
#include "daemon/vcpu_control.h"
#include "daemon/vcpu_runner.h"
#include "daemon/vm_config.h"
#include "daemon/vm_state.h"
#include "daemon/worker_thread.h"
#include "devices/console_buffer.h"
#include "base/unique_fd.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net/mac_address.h"
#include "devices/virtio/net/tap.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "devices/virtio/virtio_device.h"
#include "kvm/kvm_system.h"
#include "snapshot/v1/machine_state.pb.h"

namespace vmmd {

// What CreateVm opened for the devices before the VM is built, so that a refusal (a locked
// image, a tap in use) is the client's error and comes first. Handed to the machine's
// devices, so they close with the hardware, not with the VM object.
struct DeviceBackends {
  // The open (and locked: daemon/drive_file.h) image of each of VmConfig::drives, in order.
  std::vector<UniqueFd> drive_images;
  // The tap of each of VmConfig::network_interfaces, in order; shared with the device's
  // offload setter.
  std::vector<std::shared_ptr<virtio::Tap>> taps;
  // VmConfig::vsock's device, its socket already listening; null without vsock.
  std::unique_ptr<virtio::VsockDevice> vsock;
};

// A device on the MMIO bus and what it has done.
struct DeviceStatus {
  std::string id;
  std::string kind;
  uint64_t mmio_address = 0;
  uint64_t mmio_size = 0;
  uint32_t irq = 0;
  virtio::DeviceCounters device;
  virtio::MmioTransportCounters transport;
};

// What ConfigureBoot loads. The readers are read on the worker thread.
struct BootSpec {
  std::unique_ptr<ImageReader> kernel;
  std::string kernel_path;
  std::unique_ptr<ImageReader> initrd;  // null: none; read straight into guest RAM
  std::string cmdline;
  BootProtocolChoice protocol = BootProtocolChoice::kAuto;
  // ACPI tables describe the CPUs and devices; without, the MP table and the command line.
  bool acpi = true;
};

// A consistent snapshot for GetVm / ListVms.
struct VmStatus {
  std::string id;
  VmState state = VmState::kCreated;
  uint32_t vcpu_count = 0;
  uint64_t memory_mib = 0;
  std::string exit_reason;
  std::optional<BootInfo> boot_info;
  std::string kernel_format;
  std::string kernel_path;
  std::string cmdline;
  uint64_t unhandled_io = 0;
  uint64_t unhandled_mmio = 0;
  uint64_t console_bytes = 0;
  std::optional<ConsoleLogStats> console_log;  // when the console is logged to a file
  std::vector<DriveConfig> drives;
  bool entropy_device = false;
  std::vector<NetworkInterfaceConfig> network_interfaces;
  std::optional<VsockConfig> vsock;
  std::map<std::string, std::string> labels;
  std::vector<DeviceStatus> devices;
  // Per vCPU: its exits to vmmd by kind (kVcpuExitKindNames).
  std::vector<std::array<uint64_t, kVcpuExitKinds>> vcpu_exits;
};

class VirtualMachine {
 public:
  // Creates the VM on a new worker thread: KVM VM with TSS and identity-map pages,
  // in-kernel irqchip and PIT, guest memory, vCPUs, and devices (COM1 on IRQ 4 through an
  // irqfd, i8042, test-exit port). `supported_cpuid` must outlive the VM.
  static absl::StatusOr<std::shared_ptr<VirtualMachine>> Create(
      const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& supported_cpuid,
      VmConfig config, DeviceBackends backends, absl::Duration timeout);

  // What a VM is restored from: a snapshot's state (checked against this host by the
  // caller), the boot it records, and its guest memory (the memory file, mapped).
  struct RestoreSource {
    snapshot::v1::MachineState state;
    VmBoot boot;
    std::unique_ptr<GuestMemory> memory;
    bool resume = false;  // RUNNING at once; otherwise PAUSED
  };
  // Creates the VM as Create does, around `source.memory`, and puts the snapshot's state
  // back (RestoreMachineState) before any vCPU runs. Its vCPU threads start parked: the VM
  // is PAUSED, or RUNNING with `resume`. On any error nothing is left: the VM is shut down.
  static absl::StatusOr<std::shared_ptr<VirtualMachine>> Restore(
      const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& supported_cpuid,
      VmConfig config, DeviceBackends backends, RestoreSource source, absl::Duration timeout);

  ~VirtualMachine();  // Shutdown()

  const std::string& id() const { return config_.id; }

  // CREATED -> CONFIGURED: loads the kernel and initrd and runs the boot layer.
  // FAILED_PRECONDITION in another state; the boot layer's errors otherwise.
  absl::StatusOr<BootInfo> ConfigureBoot(BootSpec spec, absl::Duration timeout);
  // Each state change succeeds as well when the VM is already in the state it asks for, so a
  // client may retry after a lost answer. DEADLINE_EXCEEDED means nothing changed (see
  // WorkerThread::Call); UNAVAILABLE, that the VM is being deleted.
  // CONFIGURED -> RUNNING: starts one thread per vCPU.
  absl::Status Start(absl::Duration timeout);
  // RUNNING -> PAUSED: parks every vCPU thread outside KVM_RUN, all within `timeout` (or it
  // stays RUNNING and says so).
  absl::Status Pause(absl::Duration timeout);
  // PAUSED -> RUNNING.
  absl::Status Resume(absl::Duration timeout);
  // Any state -> STOPPED ("stopped by request"); joins the vCPU threads.
  absl::Status Stop(absl::Duration timeout);

  // PAUSED -> PAUSED: reads the whole machine out for a snapshot (daemon/machine_snapshot.h)
  // with the VM's spec, and writes guest memory to `memory_fd` while the devices are at rest.
  // `msr_indices` is KvmSystem::GetMsrIndexList(). FAILED_PRECONDITION in another state.
  absl::StatusOr<snapshot::v1::MachineState> Snapshot(absl::Span<const uint32_t> msr_indices,
                                                      int memory_fd, absl::Duration timeout);

  // For DeleteVm and daemon exit: stops the VM, joins every thread, releases every fd and
  // mapping, closes the console and the event log. Idempotent. Blocks until done.
  void Shutdown();

  VmStatus Status() const;
  ConsoleBuffer& console() { return console_; }
  EventLog& events() { return events_; }
  // Calls `observer` with each later state change, under the VM's lock (it must not call
  // back into the VM): how the host's event log (VmManager) learns of them.
  void ObserveStates(std::function<void(VmState, const std::string& reason)> observer);

 private:

  VirtualMachine(VmConfig config, const std::vector<kvm_cpuid_entry2>& supported_cpuid);

  // `memory` null: fresh RAM of config_.memory_mib.
  absl::Status CreateHardwareOnWorker(const KvmSystem& kvm, DeviceBackends backends,
                                      std::unique_ptr<GuestMemory> memory);
  absl::Status RestoreOnWorker(RestoreSource& source);
  absl::StatusOr<snapshot::v1::MachineState> SnapshotOnWorker(
      absl::Span<const uint32_t> msr_indices, int memory_fd);
  // One thread per vCPU; they park first when control_ is paused.
  // RESOURCE_EXHAUSTED naming the vCPU when the host refuses a thread; those started before
  // it run on until stopped (the caller stops them).
  absl::Status StartVcpuThreadsOnWorker() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The virtio devices config_ asks for, in the order Linux should find them: the root drive
  // first (/dev/vda), the other drives, then the entropy device.
  absl::StatusOr<std::vector<VirtioDeviceConfig>> VirtioDevicesOnWorker(DeviceBackends backends);
  // What the command line gets for the devices: root=, and without ACPI (whose DSDT names
  // them) virtio_mmio.device= for each.
  std::string DeviceCmdline(bool acpi) const;
  // Each device with its counters now; empty once the hardware is released.
  std::vector<DeviceStatus> DeviceStatuses() const;
  absl::StatusOr<BootInfo> ConfigureOnWorker(BootSpec spec);
  absl::Status StartOnWorker();
  absl::Status PauseOnWorker(absl::Time deadline);
  absl::Status ResumeOnWorker();
  absl::Status StopOnWorker(const std::string& reason);
  void JoinVcpuThreadsOnWorker();
  void ReleaseHardwareOnWorker();

  // vCPU threads.
  std::string VcpuThreadName(size_t index) const;
  void VcpuThread(size_t index);
  // Ends the run from a vCPU thread (guest reset, triple fault, ...) or the worker's tick: the
  // first reason wins.
  void RequestGuestStop(std::string reason);
  void KickAllVcpus();
  void ConsoleOutput(uint8_t byte);
  // Lets KVM queue COM1's THR writes while the UART allows it, and stops it when not.
  void UpdateSerialCoalescing();
  // The worker's tick while vCPUs run: replays THR writes queued by a guest that has stopped
  // exiting, and writes the console log's backlog out.
  void TickOnWorker();
  static constexpr absl::Duration kTickPeriod = absl::Milliseconds(20);

  void SetState(VmState state, std::string reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status RequireState(VmState wanted, const char* action) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const VmConfig config_;
  const std::vector<kvm_cpuid_entry2>& supported_cpuid_;
  ConsoleBuffer console_;
  EventLog events_;
  // Set on the worker before Create returns, then fixed: vCPU threads append, the worker
  // flushes, Status reads its counters.
  std::unique_ptr<ConsoleLog> console_log_;
  // Set on the worker before Create returns, then fixed: the devices and their transports,
  // whose counters Status reads while the hardware lives (final_device_counters_ after).
  std::vector<DeviceStatus> devices_;
  std::vector<std::weak_ptr<const virtio::MmioTransport>> transports_;

  mutable Mutex mutex_;
  VmState state_ ABSL_GUARDED_BY(mutex_) = VmState::kCreated;
  std::string exit_reason_ ABSL_GUARDED_BY(mutex_);
  std::function<void(VmState, const std::string&)> state_observer_ ABSL_GUARDED_BY(mutex_);
  std::optional<BootInfo> boot_info_ ABSL_GUARDED_BY(mutex_);
  std::string kernel_path_ ABSL_GUARDED_BY(mutex_);
  std::string kernel_format_ ABSL_GUARDED_BY(mutex_);
  std::string cmdline_ ABSL_GUARDED_BY(mutex_);
  // The devices' counters as the hardware was released.
  std::vector<DeviceStatus> final_devices_ ABSL_GUARDED_BY(mutex_);

  // What vCPU threads check between KVM_RUN calls. Its lock is taken after mutex_.
  VcpuControl control_;
  UnhandledExitCounters unhandled_;
  // Set on the worker before Create returns, then fixed: one per vCPU, outliving the runners.
  std::vector<std::unique_ptr<VcpuExitCounters>> vcpu_exits_;
  std::atomic<bool> shut_down_{false};

  // Worker only (and the vCPU threads while they run). The runners, declared after the
  // machine they drive, are released before it.
  std::unique_ptr<Machine> machine_;
  std::vector<std::unique_ptr<VcpuRunner>> runners_;
  std::vector<std::thread> vcpu_threads_;  // worker only
  WorkerThread worker_;                    // last: joined first on destruction
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VIRTUAL_MACHINE_H_
