#include "daemon/vcpu_runner.h"

#include <linux/kvm.h>

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace vmmd {
namespace {

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

void VcpuRunner::Run() {
  while (wiring_.control->WaitUntilRunnable()) {
    absl::StatusOr<VcpuExit> exit = vcpu_.Run();
    if (wiring_.after_run) wiring_.after_run();
    if (!exit.ok()) {
      LOG(ERROR) << "vm " << vm_id_ << " vcpu " << vcpu_.id() << ": " << exit.status();
      wiring_.stop_guest(absl::StrCat("KVM_RUN failed: ", exit.status().message()));
      return;
    }
    wiring_.exits->Count(*exit);
    if (!Dispatch(*exit)) return;
  }
}

bool VcpuRunner::Dispatch(VcpuExit& exit) {
  const auto stop = [this](std::string reason) {
    wiring_.stop_guest(std::move(reason));
    return true;  // the stop request ends the loop at its next check
  };
  if (auto* in = std::get_if<vcpu_exit::IoIn>(&exit)) {
    for (uint32_t i = 0; i < in->count; ++i) {
      if (!wiring_.io_bus->Read(in->port, in->data.subspan(i * in->size, in->size))) {
        ++wiring_.unhandled->io;
      }
    }
  } else if (auto* out = std::get_if<vcpu_exit::IoOut>(&exit)) {
    for (uint32_t i = 0; i < out->count; ++i) {
      if (!wiring_.io_bus->Write(out->port, out->data.subspan(i * out->size, out->size))) {
        ++wiring_.unhandled->io;
      }
    }
  } else if (auto* read = std::get_if<vcpu_exit::MmioRead>(&exit)) {
    if (!wiring_.mmio_bus->Read(read->address, read->data)) {
      LOG_EVERY_N(WARNING, 1000) << "vm " << vm_id_ << ": unhandled MMIO read at 0x" << std::hex
                                 << read->address;
      ++wiring_.unhandled->mmio;
    }
  } else if (auto* write = std::get_if<vcpu_exit::MmioWrite>(&exit)) {
    if (!wiring_.mmio_bus->Write(write->address, write->data)) {
      LOG_EVERY_N(WARNING, 1000) << "vm " << vm_id_ << ": unhandled MMIO write at 0x" << std::hex
                                 << write->address;
      ++wiring_.unhandled->mmio;
    }
  } else if (std::holds_alternative<vcpu_exit::Interrupted>(exit)) {
    // A pause or stop request: WaitUntilRunnable decides.
  } else if (std::holds_alternative<vcpu_exit::Shutdown>(exit)) {
    LOG(WARNING) << "vm " << vm_id_ << " vcpu " << vcpu_.id() << ": triple fault; "
                 << RegisterDump(vcpu_);
    return stop("triple fault");
  } else if (auto* event = std::get_if<vcpu_exit::SystemEvent>(&exit)) {
    return stop(SystemEventName(event->type));
  } else if (auto* error = std::get_if<vcpu_exit::InternalError>(&exit)) {
    LOG(ERROR) << "vm " << vm_id_ << " vcpu " << vcpu_.id() << ": KVM internal error "
               << error->suberror << "; " << RegisterDump(vcpu_);
    return stop(absl::StrCat("KVM internal error (suberror ", error->suberror, ")"));
  } else if (auto* fail = std::get_if<vcpu_exit::FailEntry>(&exit)) {
    return stop(absl::StrFormat("KVM entry failure (hardware reason %#x)", fail->hardware_reason));
  } else if (std::holds_alternative<vcpu_exit::Hlt>(exit)) {
    return stop("guest halted");
  } else if (auto* other = std::get_if<vcpu_exit::Other>(&exit)) {
    return stop(absl::StrCat("unhandled KVM exit reason ", other->reason));
  }
  return true;
}

}  // namespace vmmd
