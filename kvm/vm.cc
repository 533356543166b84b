#include "kvm/vm.h"

#include <linux/kvm.h>
#include <sys/mman.h>

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "kvm/kvm_flex_array.h"
#include "kvm/kvm_ioctl.h"

namespace vmmd {

using kvm_internal::GetStruct;
using kvm_internal::Ioctl;

absl::Status Vm::SetTssAddress(GuestAddress address) {
  return Ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address.value()),
               "KVM_SET_TSS_ADDR")
      .status();
}

absl::Status Vm::SetIdentityMapAddress(GuestAddress address) {
  uint64_t value = address.value();
  return Ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &value, "KVM_SET_IDENTITY_MAP_ADDR").status();
}

absl::Status Vm::CreateIrqchip() {
  return Ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP").status();
}

absl::Status Vm::CreatePit2() {
  kvm_pit_config config = {};
  // KVM_PIT_SPEAKER_DUMMY: port 0x61 is answered in-kernel instead of exiting to us.
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  return Ioctl(fd_.get(), KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2").status();
}

absl::Status Vm::SetUserMemoryRegion(uint32_t slot, const GuestMemoryRegion& region) {
  kvm_userspace_memory_region kvm_region = {};
  kvm_region.slot = slot;
  kvm_region.guest_phys_addr = region.start.value();
  kvm_region.memory_size = region.size;
  kvm_region.userspace_addr = reinterpret_cast<uint64_t>(region.host);
  return Ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &kvm_region,
               absl::StrFormat("KVM_SET_USER_MEMORY_REGION(slot=%u, gpa=%#x, size=%#x)", slot,
                               region.start.value(), region.size))
      .status();
}

absl::Status Vm::MapGuestMemory(std::shared_ptr<const GuestMemory> memory) {
  // Held first: a slot registered before a later one fails stays registered.
  mapped_memory_->push_back(memory);
  uint32_t slot = 0;
  for (const GuestMemoryRegion& region : memory->regions()) {
    RETURN_IF_ERROR(SetUserMemoryRegion(slot++, region));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Vcpu>> Vm::CreateVcpu(uint32_t id) {
  // KVM returns vCPU fds with O_CLOEXEC already set.
  ASSIGN_OR_RETURN(int vcpu_fd, Ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id),
                                      absl::StrCat("KVM_CREATE_VCPU(id=", id, ")")));
  UniqueFd fd(vcpu_fd);
  void* run = ::mmap(nullptr, vcpu_mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (run == MAP_FAILED) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("mmap(kvm_run of vcpu ", id, ")"));
  }
  return std::unique_ptr<Vcpu>(new Vcpu(id, mapped_memory_, std::move(fd),
                                        static_cast<kvm_run*>(run), vcpu_mmap_size_));
}

absl::Status Vm::RegisterIrqfd(int event_fd, uint32_t gsi) {
  kvm_irqfd irqfd = {};
  irqfd.fd = static_cast<uint32_t>(event_fd);
  irqfd.gsi = gsi;
  return Ioctl(fd_.get(), KVM_IRQFD, &irqfd, absl::StrCat("KVM_IRQFD(gsi=", gsi, ")")).status();
}

absl::Status Vm::UnregisterIrqfd(int event_fd, uint32_t gsi) {
  kvm_irqfd irqfd = {};
  irqfd.fd = static_cast<uint32_t>(event_fd);
  irqfd.gsi = gsi;
  irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
  return Ioctl(fd_.get(), KVM_IRQFD, &irqfd, absl::StrCat("KVM_IRQFD(deassign gsi=", gsi, ")"))
      .status();
}

namespace {

// The kvm_ioeventfd for an MMIO registration, or INVALID_ARGUMENT for what KVM would refuse
// with a bare EINVAL (or, for a datamatch too wide, accept and never match).
absl::StatusOr<kvm_ioeventfd> MmioIoeventfd(int event_fd, GuestAddress address, uint32_t length,
                                            std::optional<uint64_t> datamatch) {
  // virt/kvm/eventfd.c: the lengths KVM compares a write against; 0 matches any width.
  if (length != 0 && length != 1 && length != 2 && length != 4 && length != 8) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ioeventfd at %#x: length %u is not 0, 1, 2, 4 or 8", address.value(), length));
  }
  if (datamatch.has_value()) {
    if (length == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ioeventfd at %#x: datamatch needs length 1, 2, 4 or 8, not 0", address.value()));
    }
    // KVM compares the written `length` bytes with the whole datamatch: wider never matches.
    if (length < 8 && *datamatch >> (8 * length) != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ioeventfd at %#x: datamatch %#x does not fit in length %u",
                          address.value(), *datamatch, length));
    }
  }
  if (!address.CheckedAdd(length).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ioeventfd at %#x: length %u wraps past the end of the address space",
                        address.value(), length));
  }
  kvm_ioeventfd ioeventfd = {};
  ioeventfd.addr = address.value();
  ioeventfd.len = length;
  ioeventfd.fd = event_fd;
  // No KVM_IOEVENTFD_FLAG_PIO: the address is guest-physical (the MMIO bus).
  if (datamatch.has_value()) {
    ioeventfd.datamatch = *datamatch;
    ioeventfd.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
  }
  return ioeventfd;
}

// "mmio 0xd0000050+4 datamatch=1", for error messages.
std::string DescribeIoeventfd(GuestAddress address, uint32_t length,
                              std::optional<uint64_t> datamatch) {
  std::string text = absl::StrFormat("mmio %#x+%u", address.value(), length);
  if (datamatch.has_value()) absl::StrAppendFormat(&text, " datamatch=%#x", *datamatch);
  return text;
}

}  // namespace

absl::Status Vm::RegisterIoeventfd(int event_fd, GuestAddress address, uint32_t length,
                                   std::optional<uint64_t> datamatch) {
  ASSIGN_OR_RETURN(kvm_ioeventfd ioeventfd, MmioIoeventfd(event_fd, address, length, datamatch));
  return Ioctl(fd_.get(), KVM_IOEVENTFD, &ioeventfd,
               absl::StrCat("KVM_IOEVENTFD(", DescribeIoeventfd(address, length, datamatch), ")"))
      .status();
}

absl::Status Vm::UnregisterIoeventfd(int event_fd, GuestAddress address, uint32_t length,
                                     std::optional<uint64_t> datamatch) {
  ASSIGN_OR_RETURN(kvm_ioeventfd ioeventfd, MmioIoeventfd(event_fd, address, length, datamatch));
  ioeventfd.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  return Ioctl(fd_.get(), KVM_IOEVENTFD, &ioeventfd,
               absl::StrCat("KVM_IOEVENTFD(deassign ",
                            DescribeIoeventfd(address, length, datamatch), ")"))
      .status();
}

namespace {

kvm_coalesced_mmio_zone PioZone(uint16_t port, uint32_t length) {
  kvm_coalesced_mmio_zone zone = {};
  zone.addr = port;
  zone.size = length;
  zone.pio = 1;
  return zone;
}

}  // namespace

absl::Status Vm::RegisterCoalescedPio(uint16_t port, uint32_t length) {
  kvm_coalesced_mmio_zone zone = PioZone(port, length);
  return Ioctl(fd_.get(), KVM_REGISTER_COALESCED_MMIO, &zone,
               absl::StrFormat("KVM_REGISTER_COALESCED_MMIO(pio %#x+%u)", port, length))
      .status();
}

absl::Status Vm::UnregisterCoalescedPio(uint16_t port, uint32_t length) {
  kvm_coalesced_mmio_zone zone = PioZone(port, length);
  return Ioctl(fd_.get(), KVM_UNREGISTER_COALESCED_MMIO, &zone,
               absl::StrFormat("KVM_UNREGISTER_COALESCED_MMIO(pio %#x+%u)", port, length))
      .status();
}

absl::Status Vm::SetIrqLine(uint32_t gsi, bool level) {
  kvm_irq_level irq = {};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  return Ioctl(fd_.get(), KVM_IRQ_LINE, &irq, absl::StrCat("KVM_IRQ_LINE(gsi=", gsi, ")")).status();
}

absl::StatusOr<int> Vm::CheckExtension(int capability) const {
  return Ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability,
               absl::StrCat("KVM_CHECK_EXTENSION(", capability, ") on the VM"));
}

absl::StatusOr<size_t> Vm::XsaveSize() const {
  ASSIGN_OR_RETURN(int size, CheckExtension(KVM_CAP_XSAVE2));
  return std::max<size_t>(static_cast<size_t>(size), sizeof(kvm_internal::KvmXsaveHeader));
}

absl::StatusOr<kvm_irqchip> Vm::GetIrqchip(uint32_t chip_id) const {
  kvm_irqchip chip = {};
  chip.chip_id = chip_id;
  RETURN_IF_ERROR(
      Ioctl(fd_.get(), KVM_GET_IRQCHIP, &chip, absl::StrCat("KVM_GET_IRQCHIP(", chip_id, ")"))
          .status());
  return chip;
}
absl::Status Vm::SetIrqchip(const kvm_irqchip& chip) {
  return Ioctl(fd_.get(), KVM_SET_IRQCHIP, &chip, absl::StrCat("KVM_SET_IRQCHIP(", chip.chip_id, ")"))
      .status();
}

absl::StatusOr<kvm_pit_state2> Vm::GetPit2() const {
  return GetStruct<kvm_pit_state2>(fd_.get(), KVM_GET_PIT2, "KVM_GET_PIT2");
}
absl::Status Vm::SetPit2(const kvm_pit_state2& state) {
  return Ioctl(fd_.get(), KVM_SET_PIT2, &state, "KVM_SET_PIT2").status();
}

absl::StatusOr<kvm_clock_data> Vm::GetClock() const {
  return GetStruct<kvm_clock_data>(fd_.get(), KVM_GET_CLOCK, "KVM_GET_CLOCK");
}
absl::Status Vm::SetClock(const kvm_clock_data& clock) {
  // Only the time itself is taken (flags 0): KVM_CLOCK_REALTIME and _HOST_TSC in a saved
  // value describe the old host's clocks, which mean nothing here.
  kvm_clock_data value = {};
  value.clock = clock.clock;
  return Ioctl(fd_.get(), KVM_SET_CLOCK, &value, "KVM_SET_CLOCK").status();
}

}  // namespace vmmd
