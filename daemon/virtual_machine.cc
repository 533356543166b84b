#include "daemon/virtual_machine.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "boot/layout.h"
#include "daemon/coalesced_port_writes.h"
#include "daemon/vcpu_seccomp.h"
#include "devices/eventfd_interrupt.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/serial.h"
#include "devices/test_exit.h"
#include "glog/logging.h"
#include "kvm/guest_memory.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace vmmd {

// Members are destroyed in reverse: devices, then vCPUs, then the VM. Guest RAM is shared
// with the Vm and its vCPUs (Vm::MapGuestMemory), so it outlives their memslots whatever
// the order here.
struct VirtualMachine::Hardware {
  std::shared_ptr<GuestMemory> memory;
  Vm vm;
  std::vector<std::unique_ptr<Vcpu>> vcpus;
  EventFdInterrupt serial_interrupt;
  std::unique_ptr<Serial> serial;
  std::unique_ptr<I8042> i8042;
  std::unique_ptr<TestExit> test_exit;
  IoBus io_bus;
  // COM1's THR writes queued in KVM instead of exiting each; null where KVM cannot.
  std::unique_ptr<CoalescedPortWrites> serial_writes;
};

namespace {

// Errors from KVM while building a VM are the host's, not the client's: they must not reach
// the client as INVALID_ARGUMENT. Out-of-memory stays RESOURCE_EXHAUSTED.
absl::Status HostError(absl::string_view what, const absl::Status& status) {
  if (status.ok()) return status;
  const absl::StatusCode code = status.code() == absl::StatusCode::kResourceExhausted
                                    ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat(what, ": ", status.message()));
}

std::string RegisterDump(const Vcpu& vcpu) {
  absl::StatusOr<kvm_regs> regs = vcpu.GetRegs();
  absl::StatusOr<kvm_sregs> sregs = vcpu.GetSregs();
  if (!regs.ok() || !sregs.ok()) return "registers unavailable";
  return absl::StrFormat(
      "rip=%#x rsp=%#x rflags=%#x rax=%#x rbx=%#x rcx=%#x rdx=%#x rsi=%#x rdi=%#x "
      "cr0=%#x cr2=%#x cr3=%#x cr4=%#x efer=%#x cs=%#x",
      regs->rip, regs->rsp, regs->rflags, regs->rax, regs->rbx, regs->rcx, regs->rdx,
      regs->rsi, regs->rdi, sregs->cr0, sregs->cr2, sregs->cr3, sregs->cr4, sregs->efer,
      sregs->cs.selector);
}

const char* SystemEventName(uint32_t type) {
  switch (type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN: return "guest shutdown";
    case KVM_SYSTEM_EVENT_RESET: return "guest reset";
    case KVM_SYSTEM_EVENT_CRASH: return "guest crash";
    default: return "guest system event";
  }
}

}  // namespace

VirtualMachine::VirtualMachine(VmConfig config,
                               const std::vector<kvm_cpuid_entry2>& supported_cpuid)
    : config_(std::move(config)),
      supported_cpuid_(supported_cpuid),
      worker_(absl::StrCat(config_.id, "/worker"),
              absl::StrCat("vm ", config_.id, " is being deleted")) {}

absl::StatusOr<std::shared_ptr<VirtualMachine>> VirtualMachine::Create(
    const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& supported_cpuid,
    VmConfig config, absl::Duration timeout) {
  std::shared_ptr<VirtualMachine> machine(new VirtualMachine(std::move(config), supported_cpuid));
  absl::Status created = machine->worker_.Call(
      [machine, &kvm] { return machine->CreateHardwareOnWorker(kvm); }, timeout);
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

VirtualMachine::~VirtualMachine() { Shutdown(); }

absl::Status VirtualMachine::CreateHardwareOnWorker(const KvmSystem& kvm) {
  absl::StatusOr<Vm> vm = kvm.CreateVm();
  RETURN_IF_ERROR(HostError("KVM_CREATE_VM", vm.status()));
  // Guest RAM first, before anything else is attached to the VM (Firecracker's order too):
  // KVM_SET_USER_MEMORY_REGION waits for an SRCU grace period, measured at 7.5 ms when it
  // follows KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 and at 0.1 ms when it comes first
  // (docs/benchmarks.md). The irqchip still precedes the vCPUs, as KVM requires.
  absl::StatusOr<GuestMemory> created_memory = GuestMemory::Create(config_.memory_mib << 20);
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

  auto hardware = std::unique_ptr<Hardware>(
      new Hardware{std::move(memory), std::move(*vm), {}, std::move(*interrupt), nullptr,
                   nullptr, nullptr, IoBus()});
  for (uint32_t id = 0; id < config_.vcpu_count; ++id) {
    absl::StatusOr<std::unique_ptr<Vcpu>> vcpu = hardware->vm.CreateVcpu(id);
    RETURN_IF_ERROR(HostError(absl::StrCat("vcpu ", id), vcpu.status()));
    hardware->vcpus.push_back(std::move(*vcpu));
  }

  if (!config_.console_log_path.empty()) {
    absl::StatusOr<std::unique_ptr<ConsoleLog>> log =
        ConsoleLog::Open(config_.console_log_path, config_.console_log_limits);
    RETURN_IF_ERROR(HostError("console log", log.status()));
    console_log_ = std::move(*log);
  }
  hardware->serial = std::make_unique<Serial>(&hardware->serial_interrupt,
                                              [this](uint8_t byte) { ConsoleOutput(byte); });
  hardware->i8042 = std::make_unique<I8042>([this] { RequestGuestStop("guest reset"); });
  hardware->test_exit = std::make_unique<TestExit>(
      [this](uint32_t code) { RequestGuestStop(absl::StrCat("guest exit code ", code)); });
  RETURN_IF_ERROR(hardware->io_bus.Register(Serial::kCom1Base, Serial::kPortCount,
                                            hardware->serial.get()));
  RETURN_IF_ERROR(hardware->io_bus.Register(I8042::kBase, I8042::kPortCount, hardware->i8042.get()));
  RETURN_IF_ERROR(hardware->io_bus.Register(TestExit::kBase, TestExit::kPortCount,
                                            hardware->test_exit.get()));
  if (config_.coalesce_serial_output) {
    absl::StatusOr<std::unique_ptr<CoalescedPortWrites>> serial_writes =
        CoalescedPortWrites::Create(kvm, hardware->vm, *hardware->vcpus[0], hardware->io_bus,
                                    Serial::kCom1Base);
    if (serial_writes.ok()) {
      hardware->serial_writes = std::move(*serial_writes);
    } else {
      // Slower (an exit per byte), not wrong.
      LOG_FIRST_N(WARNING, 1) << "COM1 output not coalesced: " << serial_writes.status();
    }
  }
  hardware_ = std::move(hardware);
  return absl::OkStatus();
}

void VirtualMachine::ConsoleOutput(uint8_t byte) {
  console_.Append(absl::MakeConstSpan(&byte, 1));
  // Memory only: the worker writes it out (TickOnWorker), so a slow disk never stalls a vCPU.
  if (console_log_) console_log_->Append(absl::MakeConstSpan(&byte, 1));
}

void VirtualMachine::TickOnWorker() {
  if (hardware_ && hardware_->serial_writes) {
    // Turns queueing back on once the toggle budget allows it, and shows the last bytes of a
    // guest that wrote and then stopped exiting.
    UpdateSerialCoalescing();
    hardware_->serial_writes->Flush();
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
  if (!hardware_) return absl::FailedPreconditionError("VM has been deleted");
  ASSIGN_OR_RETURN(KernelImage kernel, LoadKernel(*spec.kernel, *hardware_->memory, spec.protocol));
  BootRequest request;
  request.protocol = kernel.protocol;
  request.entry_point = kernel.entry_point;
  request.kernel_end = kernel.end;
  request.kernel_header = kernel.header;
  request.cmdline = spec.cmdline;
  request.initrd = spec.initrd.get();
  std::vector<Vcpu*> vcpus;
  for (auto& vcpu : hardware_->vcpus) vcpus.push_back(vcpu.get());
  absl::StatusOr<BootInfo> info =
      vmmd::ConfigureBoot(BootVm{supported_cpuid_, vcpus}, *hardware_->memory, request);
  if (!info.ok()) {
    // Memory-structure errors are the request's (too long a cmdline, too big an initrd);
    // a failed vCPU ioctl is the host's.
    absl::StatusCode code = info.status().code();
    if (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kOutOfRange) {
      return info.status();
    }
    return HostError("programming vCPUs", info.status());
  }
  MutexLock lock(&mutex_);
  boot_info_ = *info;
  kernel_path_ = spec.kernel_path;
  kernel_format_ = kernel.format;
  cmdline_ = spec.cmdline;
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
  MutexLock lock(&mutex_);
  if (state_ == VmState::kRunning) return absl::OkStatus();  // a retry: already done
  RETURN_IF_ERROR(RequireState(VmState::kConfigured, "start"));
  {
    MutexLock control(&control_mutex_);
    live_vcpu_threads_ = hardware_->vcpus.size();
  }
  UpdateSerialCoalescing();
  if (hardware_->serial_writes || console_log_) {
    worker_.SetPeriodicTask(kTickPeriod, [this] { TickOnWorker(); });
  }
  for (size_t i = 0; i < hardware_->vcpus.size(); ++i) {
    vcpu_threads_.emplace_back([this, i] { VcpuLoop(i); });
    // Named here too, so that the name is right as soon as StartVcpus returns (a new thread
    // carries the worker's name until it runs).
    pthread_setname_np(vcpu_threads_.back().native_handle(), VcpuThreadName(i).c_str());
  }
  SetState(VmState::kRunning, "started");
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
  {
    MutexLock control(&control_mutex_);
    paused_ = true;
  }
  KickAllVcpus();
  {
    MutexLock control(&control_mutex_);
    auto all_parked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mutex_) {
      return stop_requested_ || parked_vcpus_ == live_vcpu_threads_;
    };
    if (!control_mutex_.AwaitWithTimeout(absl::Condition(&all_parked),
                                         std::max(deadline - absl::Now(), absl::ZeroDuration()))) {
      paused_ = false;  // the parked ones run on: the VM stays RUNNING, as GetVm says
      return absl::DeadlineExceededError(absl::StrFormat(
          "vm %s: %d of %d vCPUs parked before the deadline; it stays RUNNING", id(),
          parked_vcpus_, live_vcpu_threads_));
    }
    if (stop_requested_) return absl::FailedPreconditionError("VM stopped while pausing");
  }
  // Lock order: mutex_ before control_mutex_, never the other way round.
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
  {
    MutexLock control(&control_mutex_);
    paused_ = false;
  }
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
  {
    MutexLock control(&control_mutex_);
    if (!stop_requested_) {
      stop_requested_ = true;
      stop_reason_ = reason;
    }
  }
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
  if (hardware_ && hardware_->serial_writes) {
    hardware_->serial_writes->Flush();  // what the guest wrote last
    LOG(INFO) << "vm " << id() << ": " << hardware_->serial_writes->replayed()
              << " COM1 writes came through KVM's coalesced ring";
  }
  if (console_log_) console_log_->Flush();
  std::string reason;
  {
    MutexLock control(&control_mutex_);
    reason = stop_reason_.empty() ? "stopped" : stop_reason_;
  }
  MutexLock lock(&mutex_);
  if (state_ == VmState::kStopped) return;
  exit_reason_ = reason;
  SetState(VmState::kStopped, reason);
  console_.Close();
  LOG(INFO) << "vm " << id() << ": stopped: " << reason;
}

void VirtualMachine::RequestGuestStop(std::string reason) {
  {
    MutexLock control(&control_mutex_);
    if (stop_requested_) return;
    stop_requested_ = true;
    stop_reason_ = std::move(reason);
  }
  // The worker kicks the other vCPUs out of KVM_RUN (a vCPU thread may not signal threads:
  // daemon/vcpu_seccomp.h), then joins them all, since a vCPU thread cannot join itself, and
  // records the stop.
  worker_.Post([this] {
    KickAllVcpus();
    JoinVcpuThreadsOnWorker();
  });
}

void VirtualMachine::KickAllVcpus() {
  if (!hardware_) return;
  for (auto& vcpu : hardware_->vcpus) vcpu->RequestExit();
}

std::string VirtualMachine::VcpuThreadName(size_t index) const {
  // Thread names are at most 15 characters: "<first 8 of the id>/vcpuN".
  return absl::StrCat(id().substr(0, 8), "/vcpu", index).substr(0, 15);
}

void VirtualMachine::VcpuLoop(size_t index) {
  pthread_setname_np(pthread_self(), VcpuThreadName(index).c_str());
  // Confine this thread before the guest runs; unconfined, it does not run the guest at all
  // (the stop request makes the loop below end before its first KVM_RUN).
  Vcpu& vcpu = *hardware_->vcpus[index];
  if (absl::Status confined = InstallVcpuSeccompFilter(
          {vcpu.fd(), hardware_->vm.fd(), {hardware_->serial_interrupt.fd()}});
      !confined.ok()) {
    LOG(ERROR) << "vm " << id() << " vcpu " << index << ": no seccomp filter: " << confined;
    RequestGuestStop(absl::StrCat("vcpu ", index, " seccomp filter not installed: ", confined.message()));
  }
  IoBus& bus = hardware_->io_bus;
  auto unpaused_or_stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mutex_) {
    return !paused_ || stop_requested_;
  };
  while (true) {
    {
      MutexLock control(&control_mutex_);
      if (paused_ && !stop_requested_) {
        ++parked_vcpus_;
        control_mutex_.Await(absl::Condition(&unpaused_or_stopping));
        --parked_vcpus_;
      }
      if (stop_requested_) break;
    }
    absl::StatusOr<VcpuExit> exit = vcpu.Run();
    // Writes KVM queued come before whatever this exit is.
    if (hardware_->serial_writes) hardware_->serial_writes->Flush();
    if (!exit.ok()) {
      LOG(ERROR) << "vm " << id() << " vcpu " << index << ": " << exit.status();
      RequestGuestStop(absl::StrCat("KVM_RUN failed: ", exit.status().message()));
      break;
    }
    if (auto* in = std::get_if<vcpu_exit::IoIn>(&*exit)) {
      for (uint32_t i = 0; i < in->count; ++i) {
        if (!bus.Read(in->port, in->data.subspan(i * in->size, in->size))) ++unhandled_io_;
      }
    } else if (auto* out = std::get_if<vcpu_exit::IoOut>(&*exit)) {
      for (uint32_t i = 0; i < out->count; ++i) {
        if (!bus.Write(out->port, out->data.subspan(i * out->size, out->size))) ++unhandled_io_;
      }
      // An IER or MCR write may change what the UART allows. Not THR: in interrupt mode every
      // byte exits there, and it changes nothing.
      if (out->port > Serial::kCom1Base && out->port < Serial::kCom1Base + Serial::kPortCount) {
        UpdateSerialCoalescing();
      }
    } else if (auto* read = std::get_if<vcpu_exit::MmioRead>(&*exit)) {
      std::fill(read->data.begin(), read->data.end(), 0xff);
      LOG_EVERY_N(WARNING, 1000) << "vm " << id() << ": unhandled MMIO read at 0x" << std::hex
                                 << read->address;
      ++unhandled_mmio_;
    } else if (auto* write = std::get_if<vcpu_exit::MmioWrite>(&*exit)) {
      LOG_EVERY_N(WARNING, 1000) << "vm " << id() << ": unhandled MMIO write at 0x" << std::hex
                                 << write->address;
      ++unhandled_mmio_;
    } else if (std::holds_alternative<vcpu_exit::Interrupted>(*exit)) {
      continue;  // a pause or stop request: checked at the top
    } else if (std::holds_alternative<vcpu_exit::Shutdown>(*exit)) {
      LOG(WARNING) << "vm " << id() << " vcpu " << index << ": triple fault; " << RegisterDump(vcpu);
      RequestGuestStop("triple fault");
    } else if (auto* event = std::get_if<vcpu_exit::SystemEvent>(&*exit)) {
      RequestGuestStop(SystemEventName(event->type));
    } else if (auto* error = std::get_if<vcpu_exit::InternalError>(&*exit)) {
      LOG(ERROR) << "vm " << id() << " vcpu " << index << ": KVM internal error "
                 << error->suberror << "; " << RegisterDump(vcpu);
      RequestGuestStop(absl::StrCat("KVM internal error (suberror ", error->suberror, ")"));
    } else if (auto* fail = std::get_if<vcpu_exit::FailEntry>(&*exit)) {
      RequestGuestStop(absl::StrFormat("KVM entry failure (hardware reason %#x)", fail->hardware_reason));
    } else if (std::holds_alternative<vcpu_exit::Hlt>(*exit)) {
      RequestGuestStop("guest halted");
    } else if (auto* other = std::get_if<vcpu_exit::Other>(&*exit)) {
      RequestGuestStop(absl::StrCat("unhandled KVM exit reason ", other->reason));
    }
  }
  MutexLock control(&control_mutex_);
  --live_vcpu_threads_;
}

void VirtualMachine::UpdateSerialCoalescing() {
  CoalescedPortWrites* writes = hardware_->serial_writes.get();
  if (writes == nullptr) return;
  Serial& serial = *hardware_->serial;
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
    {
      MutexLock control(&control_mutex_);
      if (!stop_requested_) {
        stop_requested_ = true;
        stop_reason_ = "deleted";
      }
    }
    KickAllVcpus();
    JoinVcpuThreadsOnWorker();
    ReleaseHardwareOnWorker();
  });
  worker_.Shutdown();
  console_.Close();
  events_.Close();
}

void VirtualMachine::ReleaseHardwareOnWorker() {
  hardware_.reset();
}

VmStatus VirtualMachine::Status() const {
  VmStatus status;
  status.id = config_.id;
  status.vcpu_count = config_.vcpu_count;
  status.memory_mib = config_.memory_mib;
  status.unhandled_io = unhandled_io_.load();
  status.unhandled_mmio = unhandled_mmio_.load();
  status.console_bytes = console_.total_written();
  if (console_log_) status.console_log = console_log_->Stats();
  MutexLock lock(&mutex_);
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
  events_.Append(state, std::move(reason));
}

absl::Status VirtualMachine::RequireState(VmState wanted, const char* action) const {
  if (state_ == wanted) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "cannot %s vm %s: it is %s, and %s needs %s", action, id(), VmStateName(state_), action,
      VmStateName(wanted)));
}

}  // namespace vmmd
