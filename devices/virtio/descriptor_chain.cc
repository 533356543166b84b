#include "devices/virtio/descriptor_chain.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "devices/virtio/split_ring.h"

namespace vmmd::virtio {
namespace {

// Where a descriptor came from. Named only in an error message ("descriptor 7", "indirect
// descriptor 3 (table of descriptor 7)"): formatting a name for every descriptor walked cost
// more than the walk.
struct Place {
  std::optional<uint16_t> indirect_parent;
  uint32_t index = 0;

  std::string Name() const {
    if (indirect_parent) {
      return absl::StrFormat("indirect descriptor %d (table of descriptor %d)", index,
                             *indirect_parent);
    }
    return absl::StrFormat("descriptor %d", index);
  }
};

// Collects buffers and enforces the rules that span the whole chain.
class Collector {
 public:
  Collector(const GuestMemory& memory, uint32_t max_buffers, uint32_t max_total_length)
      : memory_(memory), max_buffers_(max_buffers), max_total_length_(max_total_length) {}

  absl::Status Add(const vring_desc& descriptor, const Place& where) {
    const GuestAddress address(descriptor.addr);
    const uint32_t length = descriptor.len;
    const bool writable = (descriptor.flags & VRING_DESC_F_WRITE) != 0;
    if (!address.CheckedAdd(length)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: buffer %#x + %#x wraps around the address space", where.Name(),
                          address.value(), length));
    }
    if (!memory_.Contains(address, length)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: buffer [%#x, %#x) is not inside guest RAM", where.Name(),
                          address.value(), address.value() + length));
    }
    // Spec 2.7.4.2: "The driver MUST place any device-writable descriptor elements after any
    // device-readable descriptor elements."
    if (!writable && writable_length_seen_) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: a device-readable buffer follows a device-writable one", where.Name()));
    }
    if (buffers_.size() >= max_buffers_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: the chain has more than %d buffers", where.Name(), max_buffers_));
    }
    if (length > max_total_length_ - total_length_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: the chain's length %d + %d exceeds the limit of %d bytes",
                          where.Name(), total_length_, length, max_total_length_));
    }
    total_length_ += length;
    if (writable) {
      writable_length_seen_ = true;
      writable_length_ += length;
    } else {
      readable_length_ += length;
      ++readable_count_;
    }
    buffers_.push_back(ChainBuffer{address, length, writable});
    return absl::OkStatus();
  }

  uint32_t max_buffers() const { return max_buffers_; }
  ChainBuffers& buffers() { return buffers_; }
  size_t readable_count() const { return readable_count_; }
  uint32_t readable_length() const { return readable_length_; }
  uint32_t writable_length() const { return writable_length_; }

 private:
  const GuestMemory& memory_;
  const uint32_t max_buffers_;
  const uint32_t max_total_length_;
  ChainBuffers buffers_;
  size_t readable_count_ = 0;
  uint32_t total_length_ = 0;
  uint32_t readable_length_ = 0;
  uint32_t writable_length_ = 0;
  bool writable_length_seen_ = false;
};

// Reads the indirect table that descriptor `parent` refers to, in one read, and adds the
// buffers of its chain (spec 2.7.5.3).
absl::Status WalkIndirectTable(const GuestMemory& memory, const vring_desc& descriptor,
                               uint16_t parent, Collector& collector) {
  const Place where{std::nullopt, parent};
  // struct indirect_descriptor_table { struct virtq_desc desc[len / 16]; } (2.7.5.3).
  if (descriptor.len == 0 || descriptor.len % kDescriptorSize != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: indirect table length %d is not a nonzero multiple of %d",
                        where.Name(), descriptor.len, kDescriptorSize));
  }
  const uint32_t entries = descriptor.len / kDescriptorSize;
  if (entries > collector.max_buffers()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: indirect table of %d entries exceeds the limit of %d", where.Name(), entries,
        collector.max_buffers()));
  }
  std::vector<vring_desc> table(entries);
  const absl::Status read = memory.ReadBytes(
      GuestAddress(descriptor.addr),
      absl::MakeSpan(reinterpret_cast<uint8_t*>(table.data()), entries * kDescriptorSize));
  if (!read.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: indirect table: %s", where.Name(), read.message()));
  }
  // The table's chain starts at entry 0 (2.7.5.3); `entries` hops at most, so a loop inside
  // the table ends in an error.
  uint32_t index = 0;
  for (uint32_t hops = 0;; ++hops) {
    const Place here{parent, index};
    if (hops == entries) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the indirect chain is longer than the table's %d entries (a loop)", here.Name(),
          entries));
    }
    const vring_desc& entry = table[index];
    // 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag within an indirect
    // descriptor (ie. only one table per descriptor)."
    if (entry.flags & VRING_DESC_F_INDIRECT) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: VRING_DESC_F_INDIRECT inside an indirect table", here.Name()));
    }
    RETURN_IF_ERROR(collector.Add(entry, here));
    if (!(entry.flags & VRING_DESC_F_NEXT)) return absl::OkStatus();
    if (entry.next >= entries) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: next index %d is beyond the indirect table's %d entries", here.Name(), entry.next,
          entries));
    }
    index = entry.next;
  }
}

}  // namespace

absl::StatusOr<DescriptorChain> DescriptorChain::Walk(const GuestMemory& memory,
                                                      const DescriptorTable& table,
                                                      uint16_t head, const ChainLimits& limits) {
  if (table.size == 0) {
    return absl::InvalidArgumentError("descriptor table of queue size 0");
  }
  if (head >= table.size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "head index %d is beyond the queue size %d", head, table.size));
  }
  Collector collector(memory, std::min<uint32_t>(limits.max_buffers, table.size),
                      limits.max_total_length);
  DescriptorChain chain;
  chain.head_ = head;
  uint16_t index = head;
  // A chain without loops visits each of the table's `size` descriptors at most once.
  for (uint32_t hops = 0;; ++hops) {
    const Place where{std::nullopt, index};
    if (hops == table.size) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: the chain from head %d is longer than the queue size %d (a loop)",
                          where.Name(), head, table.size));
    }
    // index < size <= 32768, so the offset cannot overflow; the sum is checked by ReadBytes.
    const absl::StatusOr<vring_desc> descriptor =
        memory.Read<vring_desc>(table.address.UncheckedAdd(index * kDescriptorSize));
    if (!descriptor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: cannot be read: %s", where.Name(), descriptor.status().message()));
    }
    if (descriptor->flags & VRING_DESC_F_INDIRECT) {
      if (!table.indirect_allowed) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: VRING_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC negotiated", where.Name()));
      }
      // 2.7.5.3.1: "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT".
      // So the indirect descriptor ends the direct part (2.7.5.3.2); its VRING_DESC_F_WRITE
      // is ignored.
      if (descriptor->flags & VRING_DESC_F_NEXT) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: both VRING_DESC_F_INDIRECT and VRING_DESC_F_NEXT are set", where.Name()));
      }
      RETURN_IF_ERROR(WalkIndirectTable(memory, *descriptor, index, collector));
      chain.indirect_ = true;
      break;
    }
    RETURN_IF_ERROR(collector.Add(*descriptor, where));
    if (!(descriptor->flags & VRING_DESC_F_NEXT)) break;
    if (descriptor->next >= table.size) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: next index %d is beyond the queue size %d", where.Name(),
                          descriptor->next, table.size));
    }
    index = descriptor->next;
  }
  chain.buffers_ = std::move(collector.buffers());
  chain.readable_count_ = collector.readable_count();
  chain.readable_length_ = collector.readable_length();
  chain.writable_length_ = collector.writable_length();
  return chain;
}

namespace {

// Calls `copy(buffer address, offset into `bytes`, length)` for the pieces of [offset,
// offset + size) of the concatenated `buffers`, whose total length is `total`.
template <typename Copy>
absl::Status ForEachPiece(absl::Span<const ChainBuffer> buffers, uint64_t total,
                          uint64_t offset, uint64_t size, const char* part, Copy copy) {
  if (offset > total || size > total - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%d bytes at offset %d are beyond the chain's %d %s bytes", size, offset, total, part));
  }
  uint64_t done = 0;
  for (const ChainBuffer& buffer : buffers) {
    if (done == size) break;
    if (offset >= buffer.length) {
      offset -= buffer.length;
      continue;
    }
    const uint64_t length = std::min<uint64_t>(buffer.length - offset, size - done);
    // The walk checked that the whole buffer lies in guest RAM.
    RETURN_IF_ERROR(copy(buffer.address.UncheckedAdd(offset), done, length));
    done += length;
    offset = 0;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DescriptorChain::ReadFromReadable(const GuestMemory& memory, uint64_t offset,
                                               absl::Span<uint8_t> out) const {
  return ForEachPiece(readable(), readable_length_, offset, out.size(), "readable",
                      [&](GuestAddress address, uint64_t at, uint64_t length) {
                        return memory.ReadBytes(address, out.subspan(at, length));
                      });
}

absl::Status DescriptorChain::WriteToWritable(GuestMemory& memory, uint64_t offset,
                                              absl::Span<const uint8_t> bytes) const {
  return ForEachPiece(writable(), writable_length_, offset, bytes.size(), "writable",
                      [&](GuestAddress address, uint64_t at, uint64_t length) {
                        return memory.WriteBytes(address, bytes.subspan(at, length));
                      });
}

absl::Status AppendHostIovecs(GuestMemory& memory, absl::Span<const ChainBuffer> buffers,
                              uint64_t offset, uint64_t length, std::vector<iovec>& iov) {
  for (const ChainBuffer& buffer : buffers) {
    if (length == 0) break;
    if (offset >= buffer.length) {
      offset -= buffer.length;
      continue;
    }
    const uint64_t take = std::min<uint64_t>(buffer.length - offset, length);
    // Inside a buffer the walk checked against guest RAM: the sum cannot wrap.
    ASSIGN_OR_RETURN(absl::Span<uint8_t> host,
                     memory.HostSpan(buffer.address.UncheckedAdd(offset), take));
    iov.push_back({host.data(), host.size()});
    length -= take;
    offset = 0;
  }
  if (length != 0) return absl::OutOfRangeError("the data runs past the chain's buffers");
  return absl::OkStatus();
}

}  // namespace vmmd::virtio
