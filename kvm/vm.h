// Vm: one KVM virtual machine (the fd from KVM_CREATE_VM) and the VM-wide ioctls.
#ifndef VMMD_KVM_VM_H_
#define VMMD_KVM_VM_H_

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "kvm/guest_address.h"
#include "kvm/guest_memory.h"
#include "kvm/vcpu.h"

namespace vmmd {

class Vm {
 public:
  Vm(Vm&&) = default;
  Vm& operator=(Vm&&) = default;

  int fd() const { return fd_.get(); }

  // KVM_SET_TSS_ADDR: three pages KVM needs for real-mode emulation on Intel hosts.
  absl::Status SetTssAddress(GuestAddress address);

  // KVM_SET_IDENTITY_MAP_ADDR: one page for the EPT identity map on Intel hosts.
  absl::Status SetIdentityMapAddress(GuestAddress address);

  // KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and per-vCPU LAPICs. Must precede CreateVcpu.
  absl::Status CreateIrqchip();

  // KVM_CREATE_PIT2: in-kernel i8254 timer.
  absl::Status CreatePit2();

  // KVM_SET_USER_MEMORY_REGION for one slot.
  absl::Status SetUserMemoryRegion(uint32_t slot, const GuestMemoryRegion& region);

  // Registers every region of `memory`, slots 0..n-1, and keeps it mapped until this Vm and
  // every vCPU it created are gone (the kernel keeps the slots while any of their fds is
  // open): KVM never holds a slot over unmapped memory, whatever order owners release it in.
  absl::Status MapGuestMemory(std::shared_ptr<const GuestMemory> memory);

  // KVM_CREATE_VCPU(id) and the mmap of its kvm_run area.
  absl::StatusOr<std::unique_ptr<Vcpu>> CreateVcpu(uint32_t id);

  // KVM_IRQFD: a write to `event_fd` raises `gsi`. Unregister with the same pair.
  absl::Status RegisterIrqfd(int event_fd, uint32_t gsi);
  absl::Status UnregisterIrqfd(int event_fd, uint32_t gsi);

  // KVM_IOEVENTFD (MMIO): a guest write of `length` bytes to `address` signals `event_fd` in
  // the kernel instead of exiting to userspace; with `datamatch`, only a write of that value
  // does (virtio-mmio QueueNotify: one eventfd per queue index). `length` is 1, 2, 4 or 8, or
  // 0 for a write of any width (then without `datamatch`). Unregister with the same arguments.
  // Returns INVALID_ARGUMENT for a bad `length`, a `datamatch` wider than `length` bytes or a
  // range that wraps past 2^64; ALREADY_EXISTS when the same (address, length, datamatch) is
  // registered (KVM's EEXIST); NOT_FOUND from Unregister when none matches (ENOENT); other
  // KVM errors as their errno.
  absl::Status RegisterIoeventfd(int event_fd, GuestAddress address, uint32_t length,
                                 std::optional<uint64_t> datamatch);
  absl::Status UnregisterIoeventfd(int event_fd, GuestAddress address, uint32_t length,
                                   std::optional<uint64_t> datamatch);

  // KVM_REGISTER_COALESCED_MMIO for port I/O: writes to [port, port + length)
  // stop exiting and queue in the VM's CoalescedIoRing instead (KVM_CAP_COALESCED_PIO).
  absl::Status RegisterCoalescedPio(uint16_t port, uint32_t length);
  // KVM_UNREGISTER_COALESCED_MMIO for the same zone: its writes exit again.
  absl::Status UnregisterCoalescedPio(uint16_t port, uint32_t length);

  // KVM_IRQ_LINE: drives `gsi` to `level` (for devices without an eventfd).
  absl::Status SetIrqLine(uint32_t gsi, bool level);

  // KVM_CHECK_EXTENSION on the VM: 0 when unsupported, otherwise the capability's value.
  absl::StatusOr<int> CheckExtension(int capability) const;
  // Bytes of a vCPU's XSAVE area (KVM_CAP_XSAVE2's answer, or 4 KiB before it existed).
  absl::StatusOr<size_t> XsaveSize() const;

  // The in-kernel interrupt controllers (CreateIrqchip): KVM_IRQCHIP_PIC_MASTER,
  // KVM_IRQCHIP_PIC_SLAVE or KVM_IRQCHIP_IOAPIC, by `chip_id`.
  absl::StatusOr<kvm_irqchip> GetIrqchip(uint32_t chip_id) const;  // KVM_GET_IRQCHIP
  absl::Status SetIrqchip(const kvm_irqchip& chip);                 // KVM_SET_IRQCHIP

  absl::StatusOr<kvm_pit_state2> GetPit2() const;      // KVM_GET_PIT2 (CreatePit2)
  absl::Status SetPit2(const kvm_pit_state2& state);  // KVM_SET_PIT2

  // kvmclock's time base: what the guest's clock reads, so that it does not jump on restore.
  absl::StatusOr<kvm_clock_data> GetClock() const;    // KVM_GET_CLOCK
  absl::Status SetClock(const kvm_clock_data& clock);  // KVM_SET_CLOCK

 private:
  friend class KvmSystem;
  Vm(UniqueFd fd, int vcpu_mmap_size)
      : mapped_memory_(std::make_shared<MappedGuestMemory>()),
        fd_(std::move(fd)),
        vcpu_mmap_size_(vcpu_mmap_size) {}

  // Shared with the vCPUs; declared before fd_, so released after it is closed.
  std::shared_ptr<MappedGuestMemory> mapped_memory_;
  UniqueFd fd_;
  int vcpu_mmap_size_;
};

}  // namespace vmmd

#endif  // VMMD_KVM_VM_H_
