#include "kvm/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"

namespace vmmd {
namespace {

constexpr uint64_t kPageSize = 4096;

// `length` bytes of anonymous memory, starting at a multiple of `alignment` (a power of two,
// at least the page size): mapped `alignment` bytes larger, and the slack on both sides
// unmapped again.
absl::StatusOr<uint8_t*> MapAligned(uint64_t length, uint64_t alignment) {
  const uint64_t slack = alignment > kPageSize ? alignment : 0;
  // MAP_NORESERVE: untouched guest RAM costs the host nothing.
  void* mapped = ::mmap(nullptr, length + slack, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) {
    return ::vmmd::ErrnoToStatus(errno, absl::StrFormat("mmap(guest RAM, %#x bytes)", length));
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(mapped);
  const uintptr_t aligned = slack == 0 ? start : (start + alignment - 1) & ~(alignment - 1);
  if (aligned > start) ::munmap(mapped, aligned - start);
  const uintptr_t end = start + length + slack;
  if (end > aligned + length) ::munmap(reinterpret_cast<void*>(aligned + length), end - aligned - length);
  return reinterpret_cast<uint8_t*>(aligned);
}

}  // namespace

absl::Status GuestMemory::CheckSize(uint64_t size) {
  if (size == 0 || size % kPageSize != 0 || size > kMaxSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory size %#x must be a positive multiple of 4 KiB and at most %#x", size,
        kMaxSize));
  }
  return absl::OkStatus();
}

std::vector<std::pair<uint64_t, uint64_t>> GuestMemory::Layout(uint64_t size) {
  // [0, min(size, 3 GiB)) then the rest from 4 GiB.
  std::vector<std::pair<uint64_t, uint64_t>> layout;
  layout.emplace_back(0, std::min(size, kMmioGapStart));
  if (size > kMmioGapStart) layout.emplace_back(kMmioGapEnd, size - kMmioGapStart);
  return layout;
}

absl::StatusOr<GuestMemory> GuestMemory::Create(uint64_t size, HugePages huge_pages) {
  RETURN_IF_ERROR(CheckSize(size));
  GuestMemory memory(size, {});
  for (const auto& [start, length] : Layout(size)) {
    const bool transparent = huge_pages == HugePages::kTransparent;
    ASSIGN_OR_RETURN(uint8_t * host, MapAligned(length, transparent ? kHugePageSize : kPageSize));
    memory.regions_.push_back({GuestAddress(start), length, host});
    if (transparent) ::madvise(host, length, MADV_HUGEPAGE);
  }
  return memory;
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : size_(std::exchange(other.size_, 0)), regions_(std::move(other.regions_)) {
  other.regions_.clear();
}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
  if (this != &other) {
    Unmap();
    size_ = std::exchange(other.size_, 0);
    regions_ = std::move(other.regions_);
    other.regions_.clear();
  }
  return *this;
}

GuestMemory::~GuestMemory() { Unmap(); }

void GuestMemory::Unmap() {
  for (const GuestMemoryRegion& region : regions_) ::munmap(region.host, region.size);
  regions_.clear();
}

absl::StatusOr<uint8_t*> GuestMemory::HostRange(GuestAddress address, uint64_t length) const {
  std::optional<GuestAddress> end = address.CheckedAdd(length);
  if (!end) {
    return absl::OutOfRangeError(absl::StrFormat(
        "guest range %#x + %#x wraps around the address space", address.value(), length));
  }
  for (const GuestMemoryRegion& region : regions_) {
    if (region.start <= address && *end <= region.end()) {
      return region.host + (address.value() - region.start.value());
    }
  }
  return absl::OutOfRangeError(absl::StrFormat(
      "guest range [%#x, %#x) is not inside guest RAM (%#x bytes)", address.value(),
      end->value(), size_));
}

bool GuestMemory::Contains(GuestAddress address, uint64_t length) const {
  return HostRange(address, length).ok();
}

absl::Status GuestMemory::WriteBytes(GuestAddress address, absl::Span<const uint8_t> bytes) {
  absl::StatusOr<uint8_t*> host = HostRange(address, bytes.size());
  if (!host.ok()) return host.status();
  if (!bytes.empty()) std::memcpy(*host, bytes.data(), bytes.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::ReadBytes(GuestAddress address, absl::Span<uint8_t> bytes) const {
  absl::StatusOr<uint8_t*> host = HostRange(address, bytes.size());
  if (!host.ok()) return host.status();
  if (!bytes.empty()) std::memcpy(bytes.data(), *host, bytes.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::FillInPlace(
    GuestAddress address, uint64_t length,
    absl::FunctionRef<absl::Status(absl::Span<uint8_t>)> fill) {
  absl::StatusOr<uint8_t*> host = HostRange(address, length);
  if (!host.ok()) return host.status();
  return fill(absl::MakeSpan(*host, length));
}

absl::StatusOr<absl::Span<uint8_t>> GuestMemory::HostSpan(GuestAddress address,
                                                         uint64_t length) {
  absl::StatusOr<uint8_t*> host = HostRange(address, length);
  if (!host.ok()) return host.status();
  return absl::MakeSpan(*host, length);
}

absl::Status GuestMemory::Fill(GuestAddress address, uint8_t value, uint64_t length) {
  absl::StatusOr<uint8_t*> host = HostRange(address, length);
  if (!host.ok()) return host.status();
  std::memset(*host, value, length);
  return absl::OkStatus();
}

}  // namespace vmmd
