#include "daemon/virtual_machine.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "daemon/coalesced_port_writes.h"
#include "daemon/machine.h"
#include "daemon/machine_snapshot.h"
#include "daemon/vcpu_seccomp.h"
#include "daemon/vm_spec_proto.h"
#include "devices/virtio/block_device.h"
#include "devices/virtio/entropy_device.h"
#include "devices/virtio/net/net_device.h"
#include "devices/serial.h"
#include "glog/logging.h"
#include "kvm/vcpu.h"

namespace vmmd {

namespace {

}  // namespace

VirtualMachine::VirtualMachine(VmConfig config,
                               const std::vector<kvm_cpuid_entry2>& supported_cpuid)
    : config_(std::move(config)),
      supported_cpuid_(supported_cpuid),
      worker_(absl::StrCat(config_.id, "/worker"),
              absl::StrCat("vm ", config_.id, " is being deleted")) {}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VirtualMachine::Create(
    const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& supported_cpuid,
    VmConfig config, DeviceBackends backends, absl::Duration timeout) {
  std::shared_ptr<VirtualMachine> machine(new VirtualMachine(std::move(config), supported_cpuid));
  auto shared_backends = std::make_shared<DeviceBackends>(std::move(backends));
  absl::Status created = machine->worker_.Call(
      [machine, &kvm, shared_backends] {
        return machine->CreateHardwareOnWorker(kvm, std::move(*shared_backends), nullptr);
      },
      timeout);
  if (!created.ok()) {
    machine->Shutdown();
    return created;
  }
  {
    MutexLock lock(&machine->mutex_);
    machine->SetState(VmState::kCreated, "created");
  }
  LOG(INFO) << "vm " << machine->id() << ": created, " << machine->config_.vcpu_count
            << " vCPUs, " << machine->config_.memory_mib << " MiB";
  return machine;
}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VirtualMachine::Restore(
    const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& supported_cpuid,
    VmConfig config, DeviceBackends backends, RestoreSource source, absl::Duration timeout) {
  std::shared_ptr<VirtualMachine> machine(new VirtualMachine(std::move(config), supported_cpuid));
  auto shared_backends = std::make_shared<DeviceBackends>(std::move(backends));
  auto shared_source = std::make_shared<RestoreSource>(std::move(source));
  absl::Status restored = machine->worker_.Call(
      [machine, &kvm, shared_backends, shared_source] {
        RETURN_IF_ERROR(machine->CreateHardwareOnWorker(kvm, std::move(*shared_backends),
                                                        std::move(shared_source->memory)));
        return machine->RestoreOnWorker(*shared_source);
      },
      timeout);
  if (!restored.ok()) {
    machine->Shutdown();
    return restored;
  }
  LOG(INFO) << "vm " << machine->id() << ": restored, " << machine->config_.vcpu_count
            << " vCPUs, " << machine->config_.memory_mib << " MiB";
  return machine;
}

VirtualMachine::~VirtualMachine() { Shutdown(); }

absl::Status VirtualMachine::RestoreOnWorker(RestoreSource& source) {
  RETURN_IF_ERROR(RestoreMachineState(*machine_, source.state));
  MutexLock lock(&mutex_);
  boot_info_ = source.boot.info;
  kernel_path_ = source.boot.kernel_path;
  kernel_format_ = source.boot.kernel_format;
  cmdline_ = source.boot.cmdline;
  SetState(VmState::kPaused, "restored from a snapshot");
  // The threads start parked; resuming is what lets them run.
  control_.SetPaused(true);
  // On failure the caller shuts the VM down, which joins the threads that started.
  RETURN_IF_ERROR(StartVcpuThreadsOnWorker());
  if (source.resume) {
    control_.SetPaused(false);
    SetState(VmState::kRunning, "resumed after restore");
  }
  return absl::OkStatus();
}

absl::StatusOr<snapshot::v1::MachineState> VirtualMachine::Snapshot(
    absl::Span<const uint32_t> msr_indices, int memory_fd, absl::Duration timeout) {
  return worker_.Call([this, msr_indices, memory_fd] { return SnapshotOnWorker(msr_indices, memory_fd); },
                      timeout);
}

absl::StatusOr<snapshot::v1::MachineState> VirtualMachine::SnapshotOnWorker(
    absl::Span<const uint32_t> msr_indices, int memory_fd) {
  VmBoot boot;
  {
    MutexLock lock(&mutex_);
    RETURN_IF_ERROR(RequireState(VmState::kPaused, "snapshot"));
    boot = VmBoot{*boot_info_, kernel_path_, kernel_format_, cmdline_};
  }
  // Each parked vCPU's last exit is completed first: otherwise its RIP still points at the
  // OUT or MMIO write it made, and a restored guest would make it again (a console byte
  // printed twice, a register written twice).
  for (const std::unique_ptr<Vcpu>& vcpu : machine_->vcpus) {
    RETURN_IF_ERROR(HostError(absl::StrCat("vcpu ", vcpu->id(), " pending exit"),
                              vcpu->CompletePendingExit()));
  }
  // What KVM still holds of COM1's output goes to the console first: the UART's state below
  // is then all there is.
  if (machine_->serial_writes) machine_->serial_writes->Flush();
  ASSIGN_OR_RETURN(snapshot::v1::MachineState state,
                   CaptureMachineState(*machine_, msr_indices, [&] {
                     return HostError("writing guest memory",
                                      machine_->memory->WriteToFile(memory_fd));
                   }));
  *state.mutable_spec() = VmSpecToProto(config_, boot);
  return state;
}

absl::Status VirtualMachine::CreateHardwareOnWorker(const KvmSystem& kvm,
                                                    DeviceBackends backends,
                                                    std::unique_ptr<GuestMemory> memory) {
  if (!config_.console_log_path.empty()) {
    absl::StatusOr<std::unique_ptr<ConsoleLog>> log =
        ConsoleLog::Open(config_.console_log_path, config_.console_log_limits);
    RETURN_IF_ERROR(HostError("console log", log.status()));
    console_log_ = std::move(*log);
  }
  MachineEvents events;
  events.console_output = [this](uint8_t byte) { ConsoleOutput(byte); };
  events.stop_guest = [this](std::string reason) { RequestGuestStop(std::move(reason)); };
  events.serial_registers_changed = [this] { UpdateSerialCoalescing(); };
  MachineConfig machine_config;
  machine_config.name = config_.id;
  machine_config.vcpu_count = config_.vcpu_count;
  machine_config.memory_mib = config_.memory_mib;
  machine_config.coalesce_serial_output = config_.coalesce_serial_output;
  machine_config.virtio_ring_features = config_.virtio_ring_features;
  machine_config.transparent_huge_pages = config_.transparent_huge_pages;
  machine_config.memory = std::move(memory);
  ASSIGN_OR_RETURN(machine_config.virtio_devices, VirtioDevicesOnWorker(std::move(backends)));
  ASSIGN_OR_RETURN(std::unique_ptr<Machine> machine,
                   Machine::Create(kvm, std::move(machine_config), std::move(events)));
  for (const std::unique_ptr<VirtioSlot>& slot : machine->virtio) {
    DeviceStatus device;
    device.id = slot->id;
    device.kind = slot->kind;
    device.mmio_address = slot->window.base;
    device.mmio_size = slot->window.size;
    device.irq = slot->irq;
    devices_.push_back(std::move(device));
    transports_.push_back(slot->transport);
  }
  for (auto& vcpu : machine->vcpus) {
    VcpuRunner::Wiring wiring;
    wiring.io_bus = &machine->io_bus;
    wiring.mmio_bus = &machine->mmio_bus;
    wiring.control = &control_;
    wiring.unhandled = &unhandled_;
    vcpu_exits_.push_back(std::make_unique<VcpuExitCounters>());
    wiring.exits = vcpu_exits_.back().get();
    if (CoalescedPortWrites* writes = machine->serial_writes.get()) {
      wiring.after_run = [writes] { writes->Flush(); };
    }
    wiring.stop_guest = [this](std::string reason) { RequestGuestStop(std::move(reason)); };
    runners_.push_back(std::make_unique<VcpuRunner>(id(), *vcpu, std::move(wiring)));
  }
  machine_ = std::move(machine);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VirtioDeviceConfig>> VirtualMachine::VirtioDevicesOnWorker(
    DeviceBackends backends) {
  std::vector<VirtioDeviceConfig> devices;
  std::vector<size_t> order;
  for (size_t i = 0; i < config_.drives.size(); ++i) {
    if (config_.drives[i].root) order.insert(order.begin(), i); else order.push_back(i);
  }
  for (size_t i : order) {
    const DriveConfig& drive = config_.drives[i];
    absl::StatusOr<std::unique_ptr<virtio::BlockDevice>> block = virtio::BlockDevice::Create(
        std::move(backends.drive_images[i]), drive.read_only, drive.id);
    if (!block.ok()) {
      return absl::Status(block.status().code(),
                          absl::StrCat("drives[", i, "]: ", block.status().message()));
    }
    devices.push_back(VirtioDeviceConfig{drive.id, "virtio-blk", std::move(*block)});
  }
  if (config_.entropy_device) {
    devices.push_back(
        VirtioDeviceConfig{"rng", "virtio-rng", std::make_unique<virtio::EntropyDevice>()});
  }
  for (size_t i = 0; i < config_.network_interfaces.size(); ++i) {
    const NetworkInterfaceConfig& interface = config_.network_interfaces[i];
    std::shared_ptr<virtio::Tap> tap = std::move(backends.taps[i]);
    // The device gets its own fd; the Tap keeps one for TUNSETOFFLOAD, which the device asks
    // for from the loop once the driver has chosen its features.
    absl::StatusOr<UniqueFd> frames = tap->Duplicate();
    RETURN_IF_ERROR(HostError(absl::StrCat("network_interfaces[", i, "] tap"), frames.status()));
    absl::StatusOr<std::unique_ptr<virtio::NetDevice>> net = virtio::NetDevice::Create(
        std::move(*frames), interface.mac, [tap](unsigned flags) { return tap->SetOffload(flags); },
        config_.virtio_net_offloads ? virtio::NetDevice::Offloads::kOffered
                                    : virtio::NetDevice::Offloads::kWithheld);
    RETURN_IF_ERROR(HostError(absl::StrCat("network_interfaces[", i, "]"), net.status()));
    devices.push_back(VirtioDeviceConfig{interface.id, "virtio-net", std::move(*net)});
  }
  if (backends.vsock) devices.push_back(VirtioDeviceConfig{"vsock", "virtio-vsock", std::move(backends.vsock)});
  return devices;
}

std::string VirtualMachine::DeviceCmdline(bool acpi) const {
  std::string cmdline;
  for (const DeviceStatus& device : devices_) {
    if (acpi) break;  // the DSDT names them
    // Linux's virtio_mmio.device=<size>@<baseaddr>:<irq> (drivers/virtio/virtio_mmio.c).
    absl::StrAppendFormat(&cmdline, " virtio_mmio.device=%uK@0x%x:%u", device.mmio_size / 1024,
                          device.mmio_address, device.irq);
  }
  for (const DriveConfig& drive : config_.drives) {
    if (drive.root) absl::StrAppend(&cmdline, " root=/dev/vda ", drive.read_only ? "ro" : "rw");
  }
  return cmdline;
}

void VirtualMachine::ConsoleOutput(uint8_t byte) {
  console_.Append(absl::MakeConstSpan(&byte, 1));
  // Memory only: the worker writes it out (TickOnWorker), so a slow disk never stalls a vCPU.
  if (console_log_) console_log_->Append(absl::MakeConstSpan(&byte, 1));
}

void VirtualMachine::TickOnWorker() {
  if (machine_ && machine_->serial_writes) {
    // Turns queueing back on once the toggle budget allows it, and shows the last bytes of a
    // guest that wrote and then stopped exiting.
    UpdateSerialCoalescing();
    machine_->serial_writes->Flush();
  }
  if (console_log_) console_log_->Flush();
}

absl::StatusOr<BootInfo> VirtualMachine::ConfigureBoot(BootSpec spec, absl::Duration timeout) {
  auto shared_spec = std::make_shared<BootSpec>(std::move(spec));
  return worker_.Call([this, shared_spec] { return ConfigureOnWorker(std::move(*shared_spec)); },
                      timeout);
}

absl::StatusOr<BootInfo> VirtualMachine::ConfigureOnWorker(BootSpec spec) {
  {
    MutexLock lock(&mutex_);
    RETURN_IF_ERROR(RequireState(VmState::kCreated, "configure"));
  }
  if (!machine_) return absl::FailedPreconditionError("VM has been deleted");
  ASSIGN_OR_RETURN(KernelImage kernel, LoadKernel(*spec.kernel, *machine_->memory, spec.protocol));
  BootRequest request;
  request.protocol = kernel.protocol;
  request.entry_point = kernel.entry_point;
  request.kernel_end = kernel.end;
  request.kernel_header = kernel.header;
  request.acpi = spec.acpi;
  for (const DeviceStatus& device : devices_) {
    request.acpi_devices.push_back({device.mmio_address, device.mmio_size, device.irq});
  }
  // The client's command line, then what announces the devices (BootInfo reports the whole).
  const std::string device_cmdline = DeviceCmdline(spec.acpi);
  std::string cmdline = spec.cmdline;
  if (!device_cmdline.empty()) {
    cmdline = spec.cmdline.empty() ? device_cmdline.substr(1)
                                   : absl::StrCat(spec.cmdline, device_cmdline);
  }
  request.cmdline = cmdline;
  request.initrd = spec.initrd.get();
  std::vector<Vcpu*> vcpus;
  for (auto& vcpu : machine_->vcpus) vcpus.push_back(vcpu.get());
  absl::StatusOr<BootInfo> info =
      vmmd::ConfigureBoot(BootVm{supported_cpuid_, vcpus}, *machine_->memory, request);
  if (!info.ok()) {
    // Memory-structure errors are the request's (too long a cmdline, too big an initrd);
    // a failed vCPU ioctl is the host's.
    absl::StatusCode code = info.status().code();
    if (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kOutOfRange) {
      if (!device_cmdline.empty() && code == absl::StatusCode::kInvalidArgument) {
        return absl::InvalidArgumentError(
            absl::StrCat(info.status().message(), " (vmmd appends ", device_cmdline.size(),
                         " bytes to the cmdline for the VM's devices: \"", device_cmdline.substr(1),
                         "\")"));
      }
      return info.status();
    }
    return HostError("programming vCPUs", info.status());
  }
  MutexLock lock(&mutex_);
  boot_info_ = *info;
  kernel_path_ = spec.kernel_path;
  kernel_format_ = kernel.format;
  cmdline_ = cmdline;
  LOG(INFO) << "vm " << id() << ": configured " << kernel.format << " " << spec.kernel_path
            << " for " << BootProtocolName(kernel.protocol) << ", entry 0x" << std::hex
            << kernel.entry_point.value();
  SetState(VmState::kConfigured, "configured");
  return info;
}

absl::Status VirtualMachine::Start(absl::Duration timeout) {
  return worker_.Call([this] { return StartOnWorker(); }, timeout);
}

absl::Status VirtualMachine::StartOnWorker() {
  absl::Status started;
  {
    MutexLock lock(&mutex_);
    if (state_ == VmState::kRunning) return absl::OkStatus();  // a retry: already done
    RETURN_IF_ERROR(RequireState(VmState::kConfigured, "start"));
    started = StartVcpuThreadsOnWorker();
    if (started.ok()) {
      SetState(VmState::kRunning, "started");
      return absl::OkStatus();
    }
  }
  // The host refused a thread: the ones that started end, and the VM stops, its exit reason
  // saying why (joining takes mutex_).
  control_.RequestStop(std::string(started.message()));
  KickAllVcpus();
  JoinVcpuThreadsOnWorker();
  return started;
}

absl::Status VirtualMachine::StartVcpuThreadsOnWorker() {
  control_.ThreadsStarting(machine_->vcpus.size());
  UpdateSerialCoalescing();
  if (machine_->serial_writes || console_log_) {
    worker_.SetPeriodicTask(kTickPeriod, [this] { TickOnWorker(); });
  }
  for (size_t i = 0; i < machine_->vcpus.size(); ++i) {
    try {
      vcpu_threads_.emplace_back([this, i] { VcpuThread(i); });
    } catch (const std::system_error& error) {
      // The host's task limit (systemd's TasksMax, a pids cgroup): an answer to the caller,
      // not an exception that ends the daemon and every VM in it.
      return absl::ResourceExhaustedError(
          absl::StrCat("vcpu ", i, ": the host refused a thread: ", error.what()));
    }
    // Named here too, so that the name is right as soon as StartVcpus returns (a new thread
    // carries the worker's name until it runs).
    pthread_setname_np(vcpu_threads_.back().native_handle(), VcpuThreadName(i).c_str());
  }
  return absl::OkStatus();
}

absl::Status VirtualMachine::Pause(absl::Duration timeout) {
  // One deadline: the worker's queue and the vCPUs' parking share it.
  const absl::Time deadline = absl::Now() + timeout;
  return worker_.Call([this, deadline] { return PauseOnWorker(deadline); }, timeout);
}

absl::Status VirtualMachine::PauseOnWorker(absl::Time deadline) {
  {
    MutexLock lock(&mutex_);
    if (state_ == VmState::kPaused) return absl::OkStatus();  // a retry: already done
    RETURN_IF_ERROR(RequireState(VmState::kRunning, "pause"));
  }
  control_.SetPaused(true);
  KickAllVcpus();
  if (absl::Status parked = control_.AwaitAllParked(deadline); !parked.ok()) {
    if (parked.code() != absl::StatusCode::kDeadlineExceeded) return parked;
    // The pause was withdrawn and the parked ones run on: the VM stays RUNNING, as GetVm says.
    return absl::DeadlineExceededError(
        absl::StrFormat("vm %s: %s; it stays RUNNING", id(), parked.message()));
  }
  // Lock order: mutex_ before the control's, never the other way round.
  MutexLock lock(&mutex_);
  SetState(VmState::kPaused, "paused by request");
  return absl::OkStatus();
}

absl::Status VirtualMachine::Resume(absl::Duration timeout) {
  return worker_.Call([this] { return ResumeOnWorker(); }, timeout);
}

absl::Status VirtualMachine::ResumeOnWorker() {
  MutexLock lock(&mutex_);
  if (state_ == VmState::kRunning) return absl::OkStatus();  // a retry: already done
  RETURN_IF_ERROR(RequireState(VmState::kPaused, "resume"));
  control_.SetPaused(false);
  SetState(VmState::kRunning, "resumed by request");
  return absl::OkStatus();
}

absl::Status VirtualMachine::Stop(absl::Duration timeout) {
  return worker_.Call([this] { return StopOnWorker("stopped by request"); }, timeout);
}

absl::Status VirtualMachine::StopOnWorker(const std::string& reason) {
  {
    MutexLock lock(&mutex_);
    if (state_ == VmState::kStopped) return absl::OkStatus();  // a retry, or the guest's own stop
  }
  control_.RequestStop(reason);
  KickAllVcpus();
  JoinVcpuThreadsOnWorker();
  return absl::OkStatus();
}

void VirtualMachine::JoinVcpuThreadsOnWorker() {
  for (std::thread& thread : vcpu_threads_) {
    if (thread.joinable()) thread.join();
  }
  vcpu_threads_.clear();
  worker_.ClearPeriodicTask();
  if (machine_ && machine_->serial_writes) {
    machine_->serial_writes->Flush();  // what the guest wrote last
    LOG(INFO) << "vm " << id() << ": " << machine_->serial_writes->replayed()
              << " COM1 writes came through KVM's coalesced ring";
  }
  if (console_log_) console_log_->Flush();
  std::string reason = control_.stop_reason();
  if (reason.empty()) reason = "stopped";
  MutexLock lock(&mutex_);
  if (state_ == VmState::kStopped) return;
  exit_reason_ = reason;
  SetState(VmState::kStopped, reason);
  console_.Close();
  LOG(INFO) << "vm " << id() << ": stopped: " << reason;
}

void VirtualMachine::RequestGuestStop(std::string reason) {
  if (!control_.RequestStop(std::move(reason))) return;
  // The worker kicks the other vCPUs out of KVM_RUN (a vCPU thread may not signal threads:
  // daemon/vcpu_seccomp.h), then joins them all, since a vCPU thread cannot join itself, and
  // records the stop.
  worker_.Post([this] {
    KickAllVcpus();
    JoinVcpuThreadsOnWorker();
  });
}

void VirtualMachine::KickAllVcpus() {
  if (!machine_) return;
  for (auto& vcpu : machine_->vcpus) vcpu->RequestExit();
}

std::string VirtualMachine::VcpuThreadName(size_t index) const {
  // Thread names are at most 15 characters: "<first 8 of the id>/vcpuN".
  return absl::StrCat(id().substr(0, 8), "/vcpu", index).substr(0, 15);
}

void VirtualMachine::VcpuThread(size_t index) {
  pthread_setname_np(pthread_self(), VcpuThreadName(index).c_str());
  // Confine this thread before the guest runs; unconfined, it does not run the guest at all
  // (the stop request makes the runner end before its first KVM_RUN).
  if (absl::Status confined = InstallVcpuSeccompFilter({machine_->vcpus[index]->fd(),
                                                         machine_->vm.fd(),
                                                         machine_->VcpuWritableFds()});
      !confined.ok()) {
    LOG(ERROR) << "vm " << id() << " vcpu " << index << ": no seccomp filter: " << confined;
    RequestGuestStop(absl::StrCat("vcpu ", index, " seccomp filter not installed: ", confined.message()));
  }
  runners_[index]->Run();
  control_.ThreadEnded();
}

void VirtualMachine::UpdateSerialCoalescing() {
  CoalescedPortWrites* writes = machine_->serial_writes.get();
  if (writes == nullptr) return;
  Serial& serial = *machine_->serial;
  if (absl::Status followed = writes->Follow([&serial] { return serial.TransmitCanBeDeferred(); });
      !followed.ok()) {
    LOG(ERROR) << "vm " << id() << ": " << followed;
    // Still queueing while the guest transmits on THR-empty interrupts would hold each byte's
    // interrupt back until the next exit or tick: a guest crawling, so stop it and say why.
    RequestGuestStop(absl::StrCat("serial output: ", followed.message()));
  }
}

void VirtualMachine::Shutdown() {
  if (shut_down_.exchange(true)) return;
  CHECK(!worker_.OnWorkerThread()) << "a VM cannot be shut down from its own worker";
  // The worker owns the hardware: it stops the vCPUs and releases everything, then ends.
  // WorkerThread::Shutdown runs what is queued first, so this task always runs.
  worker_.Post([this] {
    control_.RequestStop("deleted");
    KickAllVcpus();
    JoinVcpuThreadsOnWorker();
    ReleaseHardwareOnWorker();
  });
  worker_.Shutdown();
  console_.Close();
  events_.Close();
}

void VirtualMachine::ReleaseHardwareOnWorker() {
  runners_.clear();
  std::vector<DeviceStatus> final_devices = DeviceStatuses();
  machine_.reset();
  MutexLock lock(&mutex_);
  final_devices_ = std::move(final_devices);
}

std::vector<DeviceStatus> VirtualMachine::DeviceStatuses() const {
  std::vector<DeviceStatus> devices = devices_;
  for (size_t i = 0; i < devices.size(); ++i) {
    std::shared_ptr<const virtio::MmioTransport> transport = transports_[i].lock();
    if (!transport) return {};
    devices[i].device = transport->device().counters();
    devices[i].transport = transport->counters();
  }
  return devices;
}

VmStatus VirtualMachine::Status() const {
  VmStatus status;
  status.id = config_.id;
  status.vcpu_count = config_.vcpu_count;
  status.memory_mib = config_.memory_mib;
  status.unhandled_io = unhandled_.io.load();
  status.unhandled_mmio = unhandled_.mmio.load();
  status.console_bytes = console_.total_written();
  if (console_log_) status.console_log = console_log_->Stats();
  status.drives = config_.drives;
  status.entropy_device = config_.entropy_device;
  status.network_interfaces = config_.network_interfaces;
  status.vsock = config_.vsock;
  status.labels = config_.labels;
  status.devices = DeviceStatuses();
  for (const std::unique_ptr<VcpuExitCounters>& exits : vcpu_exits_) status.vcpu_exits.push_back(exits->Read());
  MutexLock lock(&mutex_);
  if (status.devices.empty()) status.devices = final_devices_;
  status.state = state_;
  status.exit_reason = exit_reason_;
  status.boot_info = boot_info_;
  status.kernel_path = kernel_path_;
  status.kernel_format = kernel_format_;
  status.cmdline = cmdline_;
  return status;
}

void VirtualMachine::SetState(VmState state, std::string reason) {
  state_ = state;
  if (state_observer_) state_observer_(state, reason);
  events_.Append(state, std::move(reason));
}

void VirtualMachine::ObserveStates(std::function<void(VmState, const std::string&)> observer) {
  MutexLock lock(&mutex_);
  state_observer_ = std::move(observer);
}

absl::Status VirtualMachine::RequireState(VmState wanted, const char* action) const {
  if (state_ == wanted) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "cannot %s vm %s: it is %s, and %s needs %s", action, id(), VmStateName(state_), action,
      VmStateName(wanted)));
}

}  // namespace vmmd
