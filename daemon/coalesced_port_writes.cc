#include "daemon/coalesced_port_writes.h"

#include <linux/kvm.h>

#include "base/status_macros.h"
#include "glog/logging.h"

namespace vmmd {

absl::StatusOr<std::unique_ptr<CoalescedPortWrites>> CoalescedPortWrites::Create(
    const KvmSystem& kvm, Vm& vm, const Vcpu& vcpu, IoBus& bus, uint16_t port, Clock now) {
  ASSIGN_OR_RETURN(int pio, kvm.CheckExtension(KVM_CAP_COALESCED_PIO));
  if (pio == 0) return absl::UnimplementedError("KVM does not offer KVM_CAP_COALESCED_PIO");
  // KVM_CAP_COALESCED_MMIO answers with the ring's page offset in the vCPU mapping.
  ASSIGN_OR_RETURN(int page_offset, kvm.CheckExtension(KVM_CAP_COALESCED_MMIO));
  if (page_offset <= 0) return absl::UnimplementedError("KVM has no coalesced I/O ring");
  ASSIGN_OR_RETURN(std::unique_ptr<CoalescedIoRing> ring, CoalescedIoRing::Map(vcpu, page_offset));
  return std::unique_ptr<CoalescedPortWrites>(
      new CoalescedPortWrites(vm, std::move(ring), bus, port, std::move(now)));
}

void CoalescedPortWrites::Flush() {
  if (ring_->Empty()) return;
  MutexLock lock(&mutex_);
  DrainLocked();
}

void CoalescedPortWrites::DrainLocked() {
  const size_t replayed = ring_->Drain([this](const CoalescedIoRing::Write& write) {
    // The ring is the VM's, not the zone's: take only what is ours.
    if (write.pio && write.address == port_) bus_.Write(port_, write.data);
  });
  replayed_.fetch_add(replayed, std::memory_order_relaxed);
}

bool CoalescedPortWrites::MayEnableLocked() {
  const auto now = now_();
  if (now - budget_start_ >= std::chrono::seconds(1)) {
    budget_start_ = now;
    enables_in_budget_ = 0;
  }
  return enables_in_budget_ < kMaxEnablesPerSecond;
}

absl::Status CoalescedPortWrites::Follow(absl::FunctionRef<bool()> allowed) {
  MutexLock lock(&mutex_);
  const bool enable = allowed();
  if (enable == enabled_.load(std::memory_order_relaxed)) return absl::OkStatus();
  if (enable) {
    if (failed_to_enable_ || !MayEnableLocked()) return absl::OkStatus();
    ++enables_in_budget_;
    if (absl::Status registered = vm_.RegisterCoalescedPio(port_, 1); !registered.ok()) {
      LOG(WARNING) << "port " << port_ << " writes will exit one by one: " << registered;
      failed_to_enable_ = true;
      return absl::OkStatus();
    }
  } else {
    // Unregistered first: once KVM returns, no vCPU can queue another write (it waits for
    // the vCPUs' SRCU readers), so the drain below empties the ring for good.
    RETURN_IF_ERROR(vm_.UnregisterCoalescedPio(port_, 1));
    DrainLocked();
  }
  enabled_.store(enable, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace vmmd
