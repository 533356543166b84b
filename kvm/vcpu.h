// Vcpu: one virtual CPU (the fd from KVM_CREATE_VCPU and its kvm_run area).
//
// One thread runs it (Run); any thread may ask it to leave KVM_RUN (RequestExit).
#ifndef VMMD_KVM_VCPU_H_
#define VMMD_KVM_VCPU_H_

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"
#include "kvm/guest_memory.h"
#include "kvm/vcpu_exit.h"

namespace vmmd {

class Vcpu {
 public:
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;
  ~Vcpu();

  uint32_t id() const { return id_; }
  int fd() const { return fd_.get(); }

  absl::StatusOr<kvm_regs> GetRegs() const;    // KVM_GET_REGS
  absl::Status SetRegs(const kvm_regs& regs);  // KVM_SET_REGS

  absl::StatusOr<kvm_sregs> GetSregs() const;     // KVM_GET_SREGS
  absl::Status SetSregs(const kvm_sregs& sregs);  // KVM_SET_SREGS

  absl::StatusOr<kvm_fpu> GetFpu() const;   // KVM_GET_FPU
  absl::Status SetFpu(const kvm_fpu& fpu);  // KVM_SET_FPU

  // KVM_SET_MSRS; INTERNAL if KVM accepts fewer entries than given (it stops at the first
  // MSR it rejects), naming that MSR.
  absl::Status SetMsrs(absl::Span<const kvm_msr_entry> entries);
  // KVM_GET_MSRS for `indices`, in the same order.
  absl::StatusOr<std::vector<kvm_msr_entry>> GetMsrs(absl::Span<const uint32_t> indices) const;
  // KVM_GET_MSRS for `indices` as far as KVM reads them: it stops at the first MSR it will
  // not read, and the entries before that one are returned (maybe none).
  absl::StatusOr<std::vector<kvm_msr_entry>> GetMsrsUpTo(absl::Span<const uint32_t> indices) const;

  absl::Status SetCpuid2(absl::Span<const kvm_cpuid_entry2> entries);  // KVM_SET_CPUID2
  // KVM_GET_CPUID2: exactly the entries SetCpuid2 gave (none before it).
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> GetCpuid2() const;

  absl::StatusOr<kvm_lapic_state> GetLapic() const;    // KVM_GET_LAPIC
  absl::Status SetLapic(const kvm_lapic_state& lapic);  // KVM_SET_LAPIC

  absl::StatusOr<kvm_mp_state> GetMpState() const;    // KVM_GET_MP_STATE
  absl::Status SetMpState(const kvm_mp_state& state);  // KVM_SET_MP_STATE

  // The FPU, SSE, AVX... state in XSAVE format: `bytes` of it (Vm::XsaveSize), through
  // KVM_GET_XSAVE2 when larger than 4 KiB, else KVM_GET_XSAVE. SetXsave takes what GetXsave
  // gave (KVM_SET_XSAVE reads as many bytes as the VM's XSAVE size).
  absl::StatusOr<std::vector<uint32_t>> GetXsave(size_t bytes) const;
  absl::Status SetXsave(absl::Span<const uint32_t> area);

  absl::StatusOr<kvm_xcrs> GetXcrs() const;   // KVM_GET_XCRS (XCR0)
  absl::Status SetXcrs(const kvm_xcrs& xcrs);  // KVM_SET_XCRS

  // Pending exceptions, interrupts and NMIs, and the interrupt shadow.
  absl::StatusOr<kvm_vcpu_events> GetVcpuEvents() const;    // KVM_GET_VCPU_EVENTS
  absl::Status SetVcpuEvents(const kvm_vcpu_events& events);  // KVM_SET_VCPU_EVENTS

  absl::StatusOr<kvm_debugregs> GetDebugRegs() const;   // KVM_GET_DEBUGREGS
  absl::Status SetDebugRegs(const kvm_debugregs& regs);  // KVM_SET_DEBUGREGS

  absl::StatusOr<uint32_t> GetTscKhz() const;  // KVM_GET_TSC_KHZ
  absl::Status SetTscKhz(uint32_t khz);        // KVM_SET_TSC_KHZ

  // The guest's TSC as an offset from the host's (KVM_VCPU_TSC_CTRL / KVM_VCPU_TSC_OFFSET,
  // Linux 5.16+): unlike a write of IA32_TSC, never taken by KVM for a synchronisation
  // attempt and ignored. HasTscOffsetControl says whether this KVM has it.
  bool HasTscOffsetControl() const;
  absl::StatusOr<int64_t> GetTscOffset() const;
  absl::Status SetTscOffset(int64_t offset);

  // KVM_RUN once and decode why it returned. Returns vcpu_exit::Interrupted when RequestExit
  // was called (before or during the call); the request is consumed.
  absl::StatusOr<VcpuExit> Run();

  // Finishes what KVM still owes the last exit without running the guest: an I/O or MMIO
  // exit completes only at the next KVM_RUN (an IN's value lands in the register, RIP moves
  // past the instruction), so state read before that would replay the instruction after a
  // restore. KVM_RUN with immediate_exit set completes it and returns at once (the KVM API's
  // advice before saving state). The vCPU must not be running. FAILED_PRECONDITION if KVM
  // exits for more (an MMIO access split in fragments); KVM_RUN's errors otherwise.
  absl::Status CompletePendingExit();

  // Makes the current or next Run() return vcpu_exit::Interrupted: sets kvm_run.immediate_exit
  // and signals the thread inside Run(). Safe from any thread while the Vcpu is alive.
  void RequestExit();

  // Test seam: called by RequestExit after it has chosen the thread to signal and before it
  // signals it, so a test can hold that moment open and check the thread is still in Run().
  void SetBeforeKickHookForTest(std::function<void()> hook) { before_kick_for_test_ = hook; }

 private:
  friend class Vm;
  Vcpu(uint32_t id, std::shared_ptr<const MappedGuestMemory> vm_memory, UniqueFd fd,
       kvm_run* run, int run_size);

  uint32_t id_;
  // The VM's guest RAM, kept mapped while this vCPU's fd (which pins the VM's memslots in
  // the kernel) is open: declared before fd_, so released after it.
  std::shared_ptr<const MappedGuestMemory> vm_memory_;
  UniqueFd fd_;
  kvm_run* run_;  // the shared kvm_run area, munmap'd by the destructor
  int run_size_;
  // The thread inside Run(), if any. RequestExit signals it while holding the mutex, and Run
  // clears it under the mutex before returning: the thread it signals is always still in
  // Run(), never one that has since exited and been joined (its pthread_t then dangling).
  std::mutex running_mutex_;
  std::optional<pthread_t> running_thread_;
  std::function<void()> before_kick_for_test_;
};

}  // namespace vmmd

#endif  // VMMD_KVM_VCPU_H_
