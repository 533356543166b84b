#include "kvm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "kvm/kvm_flex_array.h"
#include "kvm/kvm_ioctl.h"

namespace vmmd {
namespace {

using kvm_internal::GetStruct;
using kvm_internal::Ioctl;
using kvm_internal::KvmFlexArray;
using kvm_internal::kKvmGetCpuid2;
using kvm_internal::kKvmGetMsrs;
using kvm_internal::kKvmSetCpuid2;
using kvm_internal::kKvmSetMsrs;

// The signal that pulls a thread out of KVM_RUN. Its handler does nothing: the point is the
// EINTR, so it is installed without SA_RESTART.
int KickSignal() { return SIGRTMIN; }

void InstallKickHandlerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    ::sigaction(KickSignal(), &action, nullptr);
  });
}

}  // namespace

Vcpu::Vcpu(uint32_t id, std::shared_ptr<const MappedGuestMemory> vm_memory, UniqueFd fd,
           kvm_run* run, int run_size)
    : id_(id), vm_memory_(std::move(vm_memory)), fd_(std::move(fd)), run_(run), run_size_(run_size) {
  InstallKickHandlerOnce();
}

Vcpu::~Vcpu() { ::munmap(run_, run_size_); }

absl::StatusOr<kvm_regs> Vcpu::GetRegs() const {
  return GetStruct<kvm_regs>(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS");
}
absl::Status Vcpu::SetRegs(const kvm_regs& regs) {
  return Ioctl(fd_.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS").status();
}

absl::StatusOr<kvm_sregs> Vcpu::GetSregs() const {
  return GetStruct<kvm_sregs>(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS");
}
absl::Status Vcpu::SetSregs(const kvm_sregs& sregs) {
  return Ioctl(fd_.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS").status();
}

absl::StatusOr<kvm_fpu> Vcpu::GetFpu() const {
  return GetStruct<kvm_fpu>(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU");
}
absl::Status Vcpu::SetFpu(const kvm_fpu& fpu) {
  return Ioctl(fd_.get(), KVM_SET_FPU, &fpu, "KVM_SET_FPU").status();
}

absl::StatusOr<kvm_lapic_state> Vcpu::GetLapic() const {
  return GetStruct<kvm_lapic_state>(fd_.get(), KVM_GET_LAPIC, "KVM_GET_LAPIC");
}
absl::Status Vcpu::SetLapic(const kvm_lapic_state& lapic) {
  return Ioctl(fd_.get(), KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC").status();
}

absl::StatusOr<kvm_mp_state> Vcpu::GetMpState() const {
  return GetStruct<kvm_mp_state>(fd_.get(), KVM_GET_MP_STATE, "KVM_GET_MP_STATE");
}
absl::Status Vcpu::SetMpState(const kvm_mp_state& state) {
  return Ioctl(fd_.get(), KVM_SET_MP_STATE, &state, "KVM_SET_MP_STATE").status();
}

absl::StatusOr<std::vector<uint32_t>> Vcpu::GetXsave(size_t bytes) const {
  const bool large = bytes > sizeof(kvm_internal::KvmXsaveHeader);
  std::vector<uint32_t> area(std::max(bytes, sizeof(kvm_internal::KvmXsaveHeader)) / 4, 0);
  RETURN_IF_ERROR(Ioctl(fd_.get(), large ? kvm_internal::kKvmGetXsave2 : kvm_internal::kKvmGetXsave,
                        area.data(), large ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE")
                      .status());
  return area;
}
absl::Status Vcpu::SetXsave(absl::Span<const uint32_t> area) {
  if (area.size() * 4 < sizeof(kvm_internal::KvmXsaveHeader)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "XSAVE area of %d bytes: KVM_SET_XSAVE reads at least %d", area.size() * 4,
        sizeof(kvm_internal::KvmXsaveHeader)));
  }
  return Ioctl(fd_.get(), kvm_internal::kKvmSetXsave, area.data(), "KVM_SET_XSAVE").status();
}

absl::StatusOr<kvm_xcrs> Vcpu::GetXcrs() const {
  return GetStruct<kvm_xcrs>(fd_.get(), KVM_GET_XCRS, "KVM_GET_XCRS");
}
absl::Status Vcpu::SetXcrs(const kvm_xcrs& xcrs) {
  return Ioctl(fd_.get(), KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS").status();
}

absl::StatusOr<kvm_vcpu_events> Vcpu::GetVcpuEvents() const {
  return GetStruct<kvm_vcpu_events>(fd_.get(), KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");
}
absl::Status Vcpu::SetVcpuEvents(const kvm_vcpu_events& events) {
  return Ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS").status();
}

absl::StatusOr<kvm_debugregs> Vcpu::GetDebugRegs() const {
  return GetStruct<kvm_debugregs>(fd_.get(), KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS");
}
absl::Status Vcpu::SetDebugRegs(const kvm_debugregs& regs) {
  return Ioctl(fd_.get(), KVM_SET_DEBUGREGS, &regs, "KVM_SET_DEBUGREGS").status();
}

absl::StatusOr<uint32_t> Vcpu::GetTscKhz() const {
  ASSIGN_OR_RETURN(int khz, Ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0, "KVM_GET_TSC_KHZ"));
  return static_cast<uint32_t>(khz);
}
absl::Status Vcpu::SetTscKhz(uint32_t khz) {
  return Ioctl(fd_.get(), KVM_SET_TSC_KHZ, static_cast<unsigned long>(khz), "KVM_SET_TSC_KHZ")
      .status();
}

bool Vcpu::HasTscOffsetControl() const {
  kvm_device_attr attr = {};
  attr.group = KVM_VCPU_TSC_CTRL;
  attr.attr = KVM_VCPU_TSC_OFFSET;
  return ::ioctl(fd_.get(), KVM_HAS_DEVICE_ATTR, &attr) == 0;
}

absl::StatusOr<int64_t> Vcpu::GetTscOffset() const {
  int64_t offset = 0;
  kvm_device_attr attr = {};
  attr.group = KVM_VCPU_TSC_CTRL;
  attr.attr = KVM_VCPU_TSC_OFFSET;
  attr.addr = reinterpret_cast<uint64_t>(&offset);
  RETURN_IF_ERROR(Ioctl(fd_.get(), KVM_GET_DEVICE_ATTR, &attr, "KVM_GET_DEVICE_ATTR(TSC offset)").status());
  return offset;
}

absl::Status Vcpu::SetTscOffset(int64_t offset) {
  kvm_device_attr attr = {};
  attr.group = KVM_VCPU_TSC_CTRL;
  attr.attr = KVM_VCPU_TSC_OFFSET;
  attr.addr = reinterpret_cast<uint64_t>(&offset);
  return Ioctl(fd_.get(), KVM_SET_DEVICE_ATTR, &attr, "KVM_SET_DEVICE_ATTR(TSC offset)").status();
}

absl::Status Vcpu::SetMsrs(absl::Span<const kvm_msr_entry> entries) {
  KvmFlexArray<kvm_msr_entry> msrs(entries);
  ASSIGN_OR_RETURN(int written, Ioctl(fd_.get(), kKvmSetMsrs, msrs.ioctl_arg(), "KVM_SET_MSRS"));
  if (written != static_cast<int>(entries.size())) {
    return absl::InternalError(absl::StrFormat(
        "KVM_SET_MSRS on vcpu %u wrote %d of %d MSRs; KVM rejected MSR %#x", id_, written,
        entries.size(), entries[written].index));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<kvm_msr_entry>> Vcpu::GetMsrsUpTo(
    absl::Span<const uint32_t> indices) const {
  KvmFlexArray<kvm_msr_entry> msrs(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) msrs.data()[i].index = indices[i];
  ASSIGN_OR_RETURN(int read, Ioctl(fd_.get(), kKvmGetMsrs, msrs.ioctl_arg(), "KVM_GET_MSRS"));
  std::vector<kvm_msr_entry> entries = msrs.Entries();
  entries.resize(static_cast<size_t>(read));
  return entries;
}

absl::StatusOr<std::vector<kvm_msr_entry>> Vcpu::GetMsrs(
    absl::Span<const uint32_t> indices) const {
  ASSIGN_OR_RETURN(std::vector<kvm_msr_entry> entries, GetMsrsUpTo(indices));
  if (entries.size() != indices.size()) {
    return absl::InternalError(absl::StrFormat(
        "KVM_GET_MSRS on vcpu %u read %d of %d MSRs; KVM rejected MSR %#x", id_, entries.size(),
        indices.size(), indices[entries.size()]));
  }
  return entries;
}

absl::Status Vcpu::SetCpuid2(absl::Span<const kvm_cpuid_entry2> entries) {
  KvmFlexArray<kvm_cpuid_entry2> cpuid(entries);
  return Ioctl(fd_.get(), kKvmSetCpuid2, cpuid.ioctl_arg(), "KVM_SET_CPUID2").status();
}

absl::StatusOr<std::vector<kvm_cpuid_entry2>> Vcpu::GetCpuid2() const {
  // KVM never says how many entries there are: on success it leaves the caller's count as
  // it was, and the count it sets with E2BIG does not reach the caller. The smallest
  // buffer it fills is exactly the vCPU's entries: found by bisection over [0, 256]
  // (KVM_MAX_CPUID_ENTRIES), nine calls at most.
  uint32_t too_small = 0, fits = 256;  // invariant: `fits` entries succeed
  auto fill = [this](uint32_t, KvmFlexArray<kvm_cpuid_entry2>& cpuid) {
    return ::ioctl(fd_.get(), kKvmGetCpuid2, cpuid.ioctl_arg()) == 0;
  };
  {
    KvmFlexArray<kvm_cpuid_entry2> none(0);
    if (fill(0, none)) return std::vector<kvm_cpuid_entry2>{};
    if (errno != E2BIG) return ::vmmd::ErrnoToStatus(errno, "KVM_GET_CPUID2");
  }
  while (fits - too_small > 1) {
    const uint32_t middle = too_small + (fits - too_small) / 2;
    KvmFlexArray<kvm_cpuid_entry2> cpuid(middle);
    if (fill(middle, cpuid)) {
      fits = middle;
    } else if (errno == E2BIG) {
      too_small = middle;
    } else {
      return ::vmmd::ErrnoToStatus(errno, "KVM_GET_CPUID2");
    }
  }
  KvmFlexArray<kvm_cpuid_entry2> cpuid(fits);
  RETURN_IF_ERROR(Ioctl(fd_.get(), kKvmGetCpuid2, cpuid.ioctl_arg(), "KVM_GET_CPUID2").status());
  return cpuid.Entries();
}

void Vcpu::RequestExit() {
  // immediate_exit is read by KVM on entry; the signal covers a thread already inside.
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  std::lock_guard<std::mutex> lock(running_mutex_);
  if (!running_thread_) return;
  if (before_kick_for_test_) before_kick_for_test_();
  ::pthread_kill(*running_thread_, KickSignal());
}

absl::Status Vcpu::CompletePendingExit() {
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  const int result = ::ioctl(fd_.get(), KVM_RUN, 0);
  const int error = errno;
  __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
  if (result < 0 && (error == EINTR || error == EAGAIN)) return absl::OkStatus();
  if (result < 0) return ::vmmd::ErrnoToStatus(error, absl::StrFormat("KVM_RUN(vcpu %u)", id_));
  return absl::FailedPreconditionError(absl::StrFormat(
      "vcpu %u: KVM exited again (reason %u) while completing its last exit", id_,
      run_->exit_reason));
}

absl::StatusOr<VcpuExit> Vcpu::Run() {
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    running_thread_ = ::pthread_self();
  }
  int result = ::ioctl(fd_.get(), KVM_RUN, 0);
  int error = errno;
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    running_thread_.reset();
  }
  if (result < 0) {
    if (error == EINTR || error == EAGAIN) {
      __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
      return vcpu_exit::Interrupted{};
    }
    return ::vmmd::ErrnoToStatus(error, absl::StrFormat("KVM_RUN(vcpu %u)", id_));
  }

  auto* base = reinterpret_cast<uint8_t*>(run_);
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: {
      size_t bytes = size_t{run_->io.size} * run_->io.count;
      if (run_->io.data_offset + bytes > static_cast<size_t>(run_size_)) {
        return absl::InternalError("KVM_EXIT_IO data lies outside the kvm_run area");
      }
      uint8_t* data = base + run_->io.data_offset;
      if (run_->io.direction == KVM_EXIT_IO_IN) {
        return vcpu_exit::IoIn{run_->io.port, run_->io.size, run_->io.count,
                               absl::MakeSpan(data, bytes)};
      }
      return vcpu_exit::IoOut{run_->io.port, run_->io.size, run_->io.count,
                              absl::MakeConstSpan(data, bytes)};
    }
    case KVM_EXIT_MMIO: {
      size_t length = std::min<size_t>(run_->mmio.len, sizeof(run_->mmio.data));
      if (run_->mmio.is_write) {
        return vcpu_exit::MmioWrite{run_->mmio.phys_addr,
                                    absl::MakeConstSpan(run_->mmio.data, length)};
      }
      return vcpu_exit::MmioRead{run_->mmio.phys_addr, absl::MakeSpan(run_->mmio.data, length)};
    }
    case KVM_EXIT_HLT:
      return vcpu_exit::Hlt{};
    case KVM_EXIT_SHUTDOWN:
      return vcpu_exit::Shutdown{};
    case KVM_EXIT_SYSTEM_EVENT:
      return vcpu_exit::SystemEvent{run_->system_event.type};
    case KVM_EXIT_INTERNAL_ERROR:
      return vcpu_exit::InternalError{run_->internal.suberror};
    case KVM_EXIT_FAIL_ENTRY:
      return vcpu_exit::FailEntry{run_->fail_entry.hardware_entry_failure_reason};
    case KVM_EXIT_INTR:
      return vcpu_exit::Interrupted{};
    default:
      return vcpu_exit::Other{run_->exit_reason};
  }
}

}  // namespace vmmd
