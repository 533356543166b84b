// The driver's side for the virtio device fuzzers (mmio_transport_fuzzer,
// block_request_fuzzer): the drive image as a memfd, and a writer that lays virtio-blk
// requests out as descriptor chains (virtio 1.2 sections 2.7.5, 2.7.13 and 5.2.6), optionally
// mirroring every byte it writes into a host-side copy of RAM that a reference model works
// on. Request descriptions are read as virtio_device_ops.h says. Their guest RAM:
// guest_ram.h.
#ifndef VMMD_TESTS_FUZZ_VIRTIO_DRIVER_H_
#define VMMD_TESTS_FUZZ_VIRTIO_DRIVER_H_

#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <linux/virtio_blk.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"
#include "devices/virtio/split_ring.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/virtio_device_ops.h"

namespace vmmd::fuzz {

// The drive image: a memfd (no disk, fdatasync is cheap), reset to a known pattern for each
// input. Opened read-write (dup) or read-only (/proc/self/fd) for BlockDevice::Create. Its
// buffers are kept across inputs: under ASan's quarantine every fresh 64 KiB allocation
// costs page faults, which would dominate an execution.
class ImageFile {
 public:
  static ImageFile& Get() {
    static ImageFile* image = new ImageFile();
    return *image;
  }

  // A fresh image of `size` bytes: byte i varies within and across sectors.
  const std::vector<uint8_t>& Pattern(uint64_t size) {
    if (pattern_.size() != size) {
      pattern_.resize(size);
      for (uint64_t i = 0; i < size; ++i)
        pattern_[i] = static_cast<uint8_t>(i * 7 + (i >> 9) * 13 + 1);
    }
    return pattern_;
  }

  // Truncates to `size` bytes of the pattern.
  void Reset(uint64_t size) {
    const std::vector<uint8_t>& bytes = Pattern(size);
    FUZZ_CHECK(::ftruncate(fd_.get(), static_cast<off_t>(size)) == 0, "ftruncate(image)");
    FUZZ_CHECK(::pwrite(fd_.get(), bytes.data(), size, 0) == static_cast<ssize_t>(size),
               "pwrite(image)");
  }

  UniqueFd Open(bool read_only_fd) const {
    if (read_only_fd) {
      const std::string path = absl::StrFormat("/proc/self/fd/%d", fd_.get());
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      FUZZ_CHECK(fd.valid(), "open " + path);
      return fd;
    }
    UniqueFd fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    FUZZ_CHECK(fd.valid(), "dup(image)");
    return fd;
  }

  uint64_t Size() const {
    struct stat st;
    FUZZ_CHECK(::fstat(fd_.get(), &st) == 0, "fstat(image)");
    return static_cast<uint64_t>(st.st_size);
  }

  // The whole file, in a buffer that the next call reuses.
  const std::vector<uint8_t>& Contents() {
    contents_.resize(Size());
    FUZZ_CHECK(::pread(fd_.get(), contents_.data(), contents_.size(), 0) ==
                   static_cast<ssize_t>(contents_.size()),
               "pread(image)");
    return contents_;
  }

 private:
  ImageFile() : fd_(::memfd_create("vmmd-fuzz-image", MFD_CLOEXEC)) {
    FUZZ_CHECK(fd_.valid(), "memfd_create");
  }
  UniqueFd fd_;
  std::vector<uint8_t> pattern_;
  std::vector<uint8_t> contents_;
};

// One virtio-blk request as virtio_device_ops.h describes it.
struct RequestSpec {
  uint32_t type = VIRTIO_BLK_T_IN;
  uint64_t sector = 0;
  uint8_t header_length = 16;
  uint32_t data_length = 0;
  bool data_writable = true;
  uint8_t status_length = 1;
  std::vector<uint32_t> readable_cuts;  // sorted, each in [0, readable length]
  std::vector<uint32_t> writable_cuts;
  bool indirect = false;
  uint8_t gap = 0;
  uint8_t pattern = 0;

  uint32_t readable_length() const { return header_length + (data_writable ? 0 : data_length); }
  uint32_t writable_length() const { return (data_writable ? data_length : 0) + status_length; }
};

inline std::vector<uint32_t> ConsumeCuts(FuzzedDataProvider& provider, uint32_t length) {
  const uint8_t pieces = provider.ConsumeIntegralInRange<uint8_t>(1, request::kMaxPieces);
  std::vector<uint32_t> cuts;
  for (uint8_t i = 1; i < pieces; ++i) {
    cuts.push_back(provider.ConsumeIntegralInRange<uint32_t>(0, length));
  }
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

inline RequestSpec ConsumeRequest(FuzzedDataProvider& provider) {
  RequestSpec spec;
  switch (provider.ConsumeIntegralInRange<uint8_t>(0, request::kLastType)) {
    case request::kIn:
      spec.type = VIRTIO_BLK_T_IN;
      break;
    case request::kOut:
      spec.type = VIRTIO_BLK_T_OUT;
      break;
    case request::kFlush:
      spec.type = VIRTIO_BLK_T_FLUSH;
      break;
    case request::kGetId:
      spec.type = VIRTIO_BLK_T_GET_ID;
      break;
    default:
      spec.type = provider.ConsumeIntegral<uint32_t>();
      break;
  }
  spec.sector = provider.ConsumeBool()
                    ? provider.ConsumeIntegral<uint64_t>()
                    : provider.ConsumeIntegralInRange<uint16_t>(0, request::kMaxNearSector);
  spec.header_length =
      provider.ConsumeBool() ? provider.ConsumeIntegralInRange<uint8_t>(0, 15) : 16;
  spec.data_length =
      provider.ConsumeBool()
          ? provider.ConsumeIntegralInRange<uint32_t>(0, request::kMaxRawDataLength)
          : 512u * provider.ConsumeIntegralInRange<uint8_t>(0, request::kMaxDataSectors);
  spec.data_writable = provider.ConsumeBool();
  spec.status_length = provider.ConsumeIntegralInRange<uint8_t>(0, request::kMaxStatusLength);
  spec.readable_cuts = ConsumeCuts(provider, spec.readable_length());
  spec.writable_cuts = ConsumeCuts(provider, spec.writable_length());
  spec.indirect = provider.ConsumeBool();
  spec.gap = provider.ConsumeIntegral<uint8_t>();
  spec.pattern = provider.ConsumeIntegral<uint8_t>();
  return spec;
}

// A buffer of a chain the writer built.
struct BuiltBuffer {
  uint64_t address = 0;
  uint32_t length = 0;
  bool writable = false;
};

struct BuiltChain {
  uint16_t head = 0;
  std::vector<BuiltBuffer> buffers;   // readable first
  bool indirect = false;              // the buffers are an indirect table's entries
  std::vector<uint16_t> descriptors;  // the queue's descriptors it uses

  uint64_t readable_length() const {
    uint64_t n = 0;
    for (const BuiltBuffer& b : buffers) n += b.writable ? 0 : b.length;
    return n;
  }
  uint64_t writable_length() const {
    uint64_t n = 0;
    for (const BuiltBuffer& b : buffers) n += b.writable ? b.length : 0;
    return n;
  }
};

// A bump allocator over [begin, end) that starts over at `begin` when full.
class Arena {
 public:
  Arena(uint64_t begin, uint64_t end) : begin_(begin), end_(end), next_(begin) {}
  // `length` contiguous bytes at `alignment`, after `gap` free ones; nullopt when they
  // cannot fit even from the start (or, with wrap false, from here).
  std::optional<uint64_t> Take(uint64_t length, uint64_t gap, uint64_t alignment, bool wrap) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      const uint64_t at = (next_ + gap + alignment - 1) / alignment * alignment;
      if (at <= end_ && length <= end_ - at) {
        next_ = at + length;
        return at;
      }
      if (!wrap) return std::nullopt;
      next_ = begin_;
    }
    return std::nullopt;
  }
  void Clear() { next_ = begin_; }

 private:
  const uint64_t begin_, end_;
  uint64_t next_;
};

// What a driver writes, into guest memory and, if given, a mirror of it (a reference model's
// RAM). Writes that do not fit in RAM are dropped from both.
class RingWriter {
 public:
  RingWriter(GuestMemory& memory, std::vector<uint8_t>* mirror)
      : memory_(memory), mirror_(mirror) {}

  bool Write(uint64_t address, absl::Span<const uint8_t> bytes) {
    if (!memory_.WriteBytes(GuestAddress(address), bytes).ok()) return false;
    if (mirror_ != nullptr) std::memcpy(mirror_->data() + address, bytes.data(), bytes.size());
    return true;
  }
  template <typename T>
  bool WriteValue(uint64_t address, const T& value) {
    return Write(address, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
  bool Fill(uint64_t address, uint8_t value, uint64_t length) {
    if (!memory_.Fill(GuestAddress(address), value, length).ok()) return false;
    if (mirror_ != nullptr) std::memset(mirror_->data() + address, value, length);
    return true;
  }
  template <typename T>
  std::optional<T> ReadValue(uint64_t address) const {
    absl::StatusOr<T> value = memory_.Read<T>(GuestAddress(address));
    if (!value.ok()) return std::nullopt;
    return *value;
  }

  bool WriteDescriptor(uint64_t address, uint64_t addr, uint32_t len, uint16_t flags,
                       uint16_t next) {
    vring_desc d;
    d.addr = addr;
    d.len = len;
    d.flags = flags;
    d.next = next;
    return WriteValue(address, d);
  }

  // Spec 2.7.13.2 and 2.7.13.3: ring[idx % size] = head, then idx + 1.
  bool MakeAvailable(uint64_t avail, uint16_t size, uint16_t head) {
    const std::optional<uint16_t> idx = ReadValue<uint16_t>(avail + virtio::kAvailIdxOffset);
    if (!idx || size == 0) return false;
    return WriteValue<uint16_t>(avail + virtio::AvailEntryOffset(*idx % size), head) &&
           WriteValue<uint16_t>(avail + virtio::kAvailIdxOffset, static_cast<uint16_t>(*idx + 1));
  }

  // Lays `spec` out: its buffers from `data` (contiguous, after spec.gap * 8 free bytes), an
  // indirect table from `tables` when spec.indirect, and the queue's descriptors
  // `descriptors` (as many as it needs, first one the head) in the table at `table`. Does not
  // make it available. nullopt (nothing of the chain written that matters) when the arenas or
  // the descriptors given run out.
  std::optional<BuiltChain> LayOut(const RequestSpec& spec, Arena& data, Arena& tables,
                                   uint64_t table, const std::vector<uint16_t>& descriptors,
                                   bool wrap) {
    const uint64_t readable = spec.readable_length(), writable = spec.writable_length();
    const std::optional<uint64_t> base =
        data.Take(readable + writable, 8 * uint64_t{spec.gap}, 1, wrap);
    if (!base) return std::nullopt;
    // The readable part: header, then a write's data; the writable part: a read's data
    // (pre-filled, so that what the device writes shows), then the status bytes (0xff).
    std::vector<uint8_t> header(16);
    const uint32_t reserved = 0;
    std::memcpy(&header[0], &spec.type, 4);
    std::memcpy(&header[4], &reserved, 4);
    std::memcpy(&header[8], &spec.sector, 8);
    // One buffer kept across calls (see ImageFile).
    static std::vector<uint8_t>& bytes = *new std::vector<uint8_t>();
    bytes.assign(header.begin(), header.begin() + spec.header_length);
    if (!spec.data_writable) {
      const size_t at = bytes.size();
      bytes.resize(at + spec.data_length);
      for (uint32_t i = 0; i < spec.data_length; ++i)
        bytes[at + i] = static_cast<uint8_t>(spec.pattern + i);
    } else {
      bytes.insert(bytes.end(), spec.data_length, 0xa5);
    }
    bytes.insert(bytes.end(), spec.status_length, 0xff);
    if (!Write(*base, bytes)) return std::nullopt;

    BuiltChain chain;
    AddPieces(*base, readable, spec.readable_cuts, false, chain.buffers);
    AddPieces(*base + readable, writable, spec.writable_cuts, true, chain.buffers);
    if (chain.buffers.empty()) chain.buffers.push_back({*base, 0, false});
    const size_t n = chain.buffers.size();
    if (spec.indirect) {
      const std::optional<uint64_t> at = tables.Take(16 * n, 0, 16, wrap);
      if (!at || descriptors.empty()) return std::nullopt;
      for (size_t i = 0; i < n; ++i) {
        const BuiltBuffer& b = chain.buffers[i];
        WriteDescriptor(*at + 16 * i, b.address, b.length,
                        (b.writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
                        static_cast<uint16_t>(i + 1));
      }
      chain.indirect = true;
      chain.descriptors = {descriptors[0]};
      WriteDescriptor(table + 16 * uint64_t{descriptors[0]}, *at, static_cast<uint32_t>(16 * n),
                      VRING_DESC_F_INDIRECT, 0);
    } else {
      if (descriptors.size() < n) return std::nullopt;
      chain.descriptors.assign(descriptors.begin(), descriptors.begin() + n);
      for (size_t i = 0; i < n; ++i) {
        const BuiltBuffer& b = chain.buffers[i];
        WriteDescriptor(table + 16 * uint64_t{descriptors[i]}, b.address, b.length,
                        (b.writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
                        i + 1 < n ? descriptors[i + 1] : 0);
      }
    }
    chain.head = descriptors[0];
    return chain;
  }

 private:
  static void AddPieces(uint64_t at, uint64_t length, const std::vector<uint32_t>& cuts,
                        bool writable, std::vector<BuiltBuffer>& out) {
    if (length == 0 && cuts.empty()) return;
    uint64_t from = 0;
    for (size_t i = 0; i <= cuts.size(); ++i) {
      const uint64_t to = i < cuts.size() ? std::min<uint64_t>(cuts[i], length) : length;
      out.push_back({at + from, static_cast<uint32_t>(to - from), writable});
      from = to;
    }
  }

  GuestMemory& memory_;
  std::vector<uint8_t>* mirror_;
};

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_VIRTIO_DRIVER_H_
