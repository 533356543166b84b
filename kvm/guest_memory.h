// GuestMemory: the guest's RAM as anonymous host mappings, with checked typed access.
//
// RAM is laid out around the 32-bit MMIO gap [3 GiB, 4 GiB): the first 3 GiB sit at guest
// address 0 and anything beyond continues at 4 GiB. Every access is bounds- and
// overflow-checked and must lie inside one region; errors are Status, never a crash.
// Usable without /dev/kvm (boot/ tests run against it directly).
#ifndef VMMD_KVM_GUEST_MEMORY_H_
#define VMMD_KVM_GUEST_MEMORY_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvm/guest_address.h"

namespace vmmd {

// Where guest RAM may not go: [kMmioGapStart, kMmioGapEnd) is left for the LAPIC, IOAPIC,
// KVM's TSS and future MMIO devices, as on PC hardware.
inline constexpr uint64_t kMmioGapStart = 0xC000'0000;  // 3 GiB
inline constexpr uint64_t kMmioGapEnd = 0x1'0000'0000;  // 4 GiB

struct GuestMemoryRegion {
  GuestAddress start;
  uint64_t size = 0;
  uint8_t* host = nullptr;  // owned by GuestMemory; used by kvm/ to register the slot

  GuestAddress end() const { return start.UncheckedAdd(size); }
};

class GuestMemory {
 public:
  // The largest RAM we agree to map: 1 TiB, far above any microVM and far below the
  // 47-bit host address space.
  static constexpr uint64_t kMaxSize = uint64_t{1} << 40;

  // Where the host's transparent huge pages are on for madvise'd memory
  // (/sys/kernel/mm/transparent_hugepage/enabled: madvise or always), backing guest RAM with
  // 2 MiB pages lets KVM map it with 2 MiB nested page-table entries: fewer TLB misses and
  // shorter page walks for everything the guest does. The price is density: a guest that
  // touches one byte of a 2 MiB range may cost the host all 2 MiB. Each region is then
  // aligned to 2 MiB in the host, as KVM needs for large mappings.
  enum class HugePages { kNone, kTransparent };
  static constexpr uint64_t kHugePageSize = 2 << 20;

  // Maps `size` bytes (a positive multiple of 4 KiB, at most kMaxSize) of zeroed RAM.
  // INVALID_ARGUMENT for a bad size, RESOURCE_EXHAUSTED when mmap fails. madvise failing
  // (a kernel without THP) is no error: the RAM is there, in 4 KiB pages.
  static absl::StatusOr<GuestMemory> Create(uint64_t size, HugePages huge_pages = HugePages::kNone);

  // Guest RAM of `size` bytes from a memory file that WriteToFile wrote (a snapshot's): the
  // regions lie back to back in the file, in guest-address order, so the file is exactly
  // `size` bytes. kPrivateMapping maps each region MAP_PRIVATE from the file,
  // so that VMs restored from one file share its unmodified pages through the page cache and
  // a guest's writes stay its own; kCopy reads the file into anonymous memory instead (the
  // file may then change or go). INVALID_ARGUMENT for a bad size (as Create) or a file of
  // another size, naming both; errors of fstat, mmap and pread through ErrnoToStatus.
  enum class FileBacking { kPrivateMapping, kCopy };
  static absl::StatusOr<GuestMemory> MapFile(int fd, uint64_t size, FileBacking backing);

  // Writes every region to `fd` (a regular file, truncated to size() first) back to back,
  // the layout MapFile reads. Pages that are all zero are left as holes: a guest that
  // touched little makes a sparse file. Errors of ftruncate and pwrite through ErrnoToStatus.
  absl::Status WriteToFile(int fd) const;

  GuestMemory(GuestMemory&& other) noexcept;
  GuestMemory& operator=(GuestMemory&& other) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  uint64_t size() const { return size_; }
  absl::Span<const GuestMemoryRegion> regions() const { return regions_; }

  // The region at guest address 0 (RAM below the MMIO gap).
  const GuestMemoryRegion& low_region() const { return regions_.front(); }

  // True when [address, address + length) lies inside one region.
  bool Contains(GuestAddress address, uint64_t length) const;

  // OUT_OF_RANGE if the range wraps or is not wholly inside one region.
  absl::Status WriteBytes(GuestAddress address, absl::Span<const uint8_t> bytes);
  absl::Status ReadBytes(GuestAddress address, absl::Span<uint8_t> bytes) const;
  absl::Status Fill(GuestAddress address, uint8_t value, uint64_t length);
  // Hands `fill` the host bytes of [address, +length) (which must lie in one region) to
  // write in place: an image is read from its file straight into guest RAM, not through
  // the heap. OUT_OF_RANGE as WriteBytes; otherwise what `fill` returns.
  absl::Status FillInPlace(GuestAddress address, uint64_t length,
                           absl::FunctionRef<absl::Status(absl::Span<uint8_t>)> fill);
  // The host bytes of [address, +length), which must lie in one region: for devices that
  // hand guest buffers straight to preadv/pwritev (virtio-blk) instead of copying through
  // the heap. The span stays valid as long as this GuestMemory. OUT_OF_RANGE as WriteBytes.
  absl::StatusOr<absl::Span<uint8_t>> HostSpan(GuestAddress address, uint64_t length);

  template <typename T>
  absl::Status Write(GuestAddress address, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>, "guest memory holds plain bytes");
    return WriteBytes(address,
                      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

  template <typename T>
  absl::StatusOr<T> Read(GuestAddress address) const {
    static_assert(std::is_trivially_copyable_v<T>, "guest memory holds plain bytes");
    T value;
    absl::Status status =
        ReadBytes(address, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!status.ok()) return status;
    return value;
  }

 private:
  GuestMemory(uint64_t size, std::vector<GuestMemoryRegion> regions)
      : size_(size), regions_(std::move(regions)) {}

  // Where guest RAM of `size` bytes lies: (guest address, length) of each region.
  static std::vector<std::pair<uint64_t, uint64_t>> Layout(uint64_t size);
  // INVALID_ARGUMENT unless `size` is a positive multiple of 4 KiB, at most kMaxSize.
  static absl::Status CheckSize(uint64_t size);

  // The host pointer for [address, address + length), or an OUT_OF_RANGE status.
  absl::StatusOr<uint8_t*> HostRange(GuestAddress address, uint64_t length) const;
  void Unmap();

  uint64_t size_ = 0;
  std::vector<GuestMemoryRegion> regions_;
};

// What a KVM VM has registered as memslots; kvm/vm.h keeps it mapped while the VM lives.
using MappedGuestMemory = std::vector<std::shared_ptr<const GuestMemory>>;

}  // namespace vmmd

#endif  // VMMD_KVM_GUEST_MEMORY_H_
