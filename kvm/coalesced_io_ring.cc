#include "kvm/coalesced_io_ring.h"

#include <linux/kvm.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/errno_status.h"
#include "kvm/vcpu.h"

namespace vmmd {

// The kernel's struct kvm_coalesced_mmio_ring, spelled out: <linux/kvm.h> declares its
// entries with __DECLARE_FLEX_ARRAY, which C++ lays out differently (kvm/kvm_flex_array.h).
struct CoalescedIoRing::Header {
  uint32_t first;  // next entry to replay; written by us
  uint32_t last;   // next entry KVM fills; written by KVM
};
// The entries follow it; kvm_coalesced_mmio itself has no flexible array, so it is the
// kernel's as declared.
static_assert(sizeof(kvm_coalesced_mmio) == 24);

absl::StatusOr<std::unique_ptr<CoalescedIoRing>> CoalescedIoRing::Map(const Vcpu& vcpu,
                                                                     int page_offset) {
  const long page_size = ::sysconf(_SC_PAGESIZE);
  void* page = ::mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.fd(),
                      static_cast<off_t>(page_offset) * page_size);
  if (page == MAP_FAILED) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrCat("mmap(coalesced I/O ring, page ", page_offset, ")"));
  }
  return std::make_unique<CoalescedIoRing>(page, static_cast<size_t>(page_size), /*owned=*/true);
}

CoalescedIoRing::CoalescedIoRing(void* page, size_t page_size, bool owned)
    : page_(page),
      page_size_(page_size),
      owned_(owned),
      // KVM_COALESCED_MMIO_MAX: the slots after the header.
      capacity_((page_size - sizeof(Header)) / sizeof(kvm_coalesced_mmio)) {}

CoalescedIoRing::~CoalescedIoRing() {
  if (owned_) ::munmap(page_, page_size_);
}

CoalescedIoRing::Header* CoalescedIoRing::header() const { return static_cast<Header*>(page_); }

kvm_coalesced_mmio* CoalescedIoRing::entries() const {
  return reinterpret_cast<kvm_coalesced_mmio*>(static_cast<char*>(page_) + sizeof(Header));
}

bool CoalescedIoRing::Empty() const {
  // Shared with the kernel and other vCPU threads: atomic accesses, not plain ones.
  return __atomic_load_n(&header()->first, __ATOMIC_RELAXED) ==
         __atomic_load_n(&header()->last, __ATOMIC_ACQUIRE);
}

size_t CoalescedIoRing::Drain(absl::FunctionRef<void(const Write&)> replay) {
  Header* ring = header();
  uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_RELAXED);
  // Acquire: KVM fills an entry before it publishes `last` (smp_wmb in coalesced_mmio_write).
  const uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
  size_t replayed = 0;
  while (first != last) {
    if (first >= capacity_ || last >= capacity_) break;
    uint8_t data[8];
    const kvm_coalesced_mmio& entry = entries()[first];
    const uint32_t length = entry.len;
    if (length == 0 || length > sizeof(data)) break;
    std::memcpy(data, entry.data, length);
    const Write write{entry.phys_addr, entry.pio != 0, absl::MakeConstSpan(data, length)};
    replay(write);
    ++replayed;
    first = static_cast<uint32_t>((first + 1) % capacity_);
    // Release: the slot is free for KVM only once we are done reading it.
    __atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
  }
  if (first != last) {
    // Not the kernel's doing; start over empty rather than replay garbage.
    __atomic_store_n(&ring->first, __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE),
                     __ATOMIC_RELEASE);
  }
  return replayed;
}

}  // namespace vmmd
