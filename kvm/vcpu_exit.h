// VcpuExit: why KVM_RUN returned, as a typed value. Data spans point into the vCPU's kvm_run
// area and stay valid until the next Vcpu::Run().
#ifndef VMMD_KVM_VCPU_EXIT_H_
#define VMMD_KVM_VCPU_EXIT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <variant>

#include "absl/types/span.h"

namespace vmmd {

namespace vcpu_exit {

// IN from `port`: fill `data` (size * count bytes) with the value(s) the guest reads.
struct IoIn {
  uint16_t port;
  uint8_t size;  // 1, 2 or 4 bytes per access
  uint32_t count;
  absl::Span<uint8_t> data;
};

// OUT to `port`: `data` holds size * count bytes the guest wrote.
struct IoOut {
  uint16_t port;
  uint8_t size;
  uint32_t count;
  absl::Span<const uint8_t> data;
};

// Read of unbacked guest-physical `address`: fill `data`.
struct MmioRead {
  uint64_t address;
  absl::Span<uint8_t> data;
};

// Write to unbacked guest-physical `address`.
struct MmioWrite {
  uint64_t address;
  absl::Span<const uint8_t> data;
};

struct Hlt {};
struct Shutdown {};  // triple fault or an equivalent reset of the vCPU

// KVM_EXIT_SYSTEM_EVENT: KVM_SYSTEM_EVENT_SHUTDOWN / RESET / CRASH.
struct SystemEvent {
  uint32_t type;
};

// KVM_EXIT_INTERNAL_ERROR: KVM could not emulate something (e.g. KVM_INTERNAL_ERROR_EMULATION).
struct InternalError {
  uint32_t suberror;
};

// KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest.
struct FailEntry {
  uint64_t hardware_reason;
};

// KVM_RUN returned early because of Vcpu::RequestExit (immediate_exit or a signal).
struct Interrupted {};

// Any exit reason the VMM does not handle; `reason` is the raw KVM_EXIT_* value.
struct Other {
  uint32_t reason;
};

}  // namespace vcpu_exit

using VcpuExit = std::variant<vcpu_exit::IoIn, vcpu_exit::IoOut, vcpu_exit::MmioRead,
                              vcpu_exit::MmioWrite, vcpu_exit::Hlt, vcpu_exit::Shutdown,
                              vcpu_exit::SystemEvent, vcpu_exit::InternalError,
                              vcpu_exit::FailEntry, vcpu_exit::Interrupted, vcpu_exit::Other>;

inline constexpr size_t kVcpuExitKinds = std::variant_size_v<VcpuExit>;

// Each kind's name in counters and metrics, in the variant's order (VcpuExit::index()).
inline constexpr std::array<const char*, kVcpuExitKinds> kVcpuExitKindNames = {
    "io_in",  "io_out",         "mmio_read",  "mmio_write",  "hlt",   "shutdown",
    "system_event", "internal_error", "fail_entry", "interrupted", "other"};

}  // namespace vmmd

#endif  // VMMD_KVM_VCPU_EXIT_H_
