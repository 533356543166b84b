#include "daemon/coalesced_port_writes.h"

#include <linux/kvm.h>

#include "base/status_macros.h"

namespace vmmd {

absl::StatusOr<std::unique_ptr<CoalescedPortWrites>> CoalescedPortWrites::Create(
    const KvmSystem& kvm, Vm& vm, const Vcpu& vcpu, IoBus& bus, uint16_t port) {
  ASSIGN_OR_RETURN(int pio, kvm.CheckExtension(KVM_CAP_COALESCED_PIO));
  if (pio == 0) return absl::UnimplementedError("KVM does not offer KVM_CAP_COALESCED_PIO");
  // KVM_CAP_COALESCED_MMIO answers with the ring's page offset in the vCPU mapping.
  ASSIGN_OR_RETURN(int page_offset, kvm.CheckExtension(KVM_CAP_COALESCED_MMIO));
  if (page_offset <= 0) return absl::UnimplementedError("KVM has no coalesced I/O ring");
  ASSIGN_OR_RETURN(std::unique_ptr<CoalescedIoRing> ring, CoalescedIoRing::Map(vcpu, page_offset));
  return std::unique_ptr<CoalescedPortWrites>(
      new CoalescedPortWrites(vm, std::move(ring), bus, port));
}

void CoalescedPortWrites::Flush() {
  if (ring_->Empty()) return;
  MutexLock lock(&mutex_);
  DrainLocked();
}

void CoalescedPortWrites::DrainLocked() {
  const size_t replayed = ring_->Drain([this](const CoalescedIoRing::Write& write) {
    // Only our zone is registered, so every entry is a port write the bus knows.
    bus_.Write(static_cast<uint16_t>(write.address), write.data);
  });
  replayed_.fetch_add(replayed, std::memory_order_relaxed);
}

absl::Status CoalescedPortWrites::SetEnabled(bool enabled) {
  if (enabled_.load(std::memory_order_acquire) == enabled) return absl::OkStatus();
  MutexLock lock(&mutex_);
  if (enabled_.load(std::memory_order_relaxed) == enabled) return absl::OkStatus();
  if (enabled) {
    RETURN_IF_ERROR(vm_.RegisterCoalescedPio(port_, 1));
  } else {
    // Unregistered first: once KVM returns, no vCPU can queue another write (it waits for
    // the vCPUs' SRCU readers), so the drain below empties the ring for good.
    RETURN_IF_ERROR(vm_.UnregisterCoalescedPio(port_, 1));
    DrainLocked();
  }
  enabled_.store(enabled, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace vmmd
