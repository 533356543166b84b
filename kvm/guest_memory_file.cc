// GuestMemory to and from a memory file (snapshots): see guest_memory.h.
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/status_macros.h"
#include "kvm/guest_memory.h"

namespace vmmd {
namespace {

constexpr uint64_t kPageSize = 4096;

// Reading a page the guest never touched maps the kernel's zero page: no memory is spent.
bool AllZero(const uint8_t* page) {
  for (uint64_t i = 0; i < kPageSize; i += sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, page + i, sizeof(word));
    if (word != 0) return false;
  }
  return true;
}

// pwrite until every byte of [data, +length) is at `offset`.
absl::Status WriteAll(int fd, const uint8_t* data, uint64_t length, uint64_t offset) {
  while (length > 0) {
    const ssize_t done = ::pwrite(fd, data, std::min<uint64_t>(length, 1 << 30), static_cast<off_t>(offset));
    if (done < 0) {
      if (errno == EINTR) continue;
      return ::vmmd::ErrnoToStatus(errno, absl::StrFormat("pwrite(memory file, offset %#x)", offset));
    }
    data += done;
    length -= static_cast<uint64_t>(done);
    offset += static_cast<uint64_t>(done);
  }
  return absl::OkStatus();
}

// pread until [data, +length) is filled from `offset`; OUT_OF_RANGE if the file ends first.
absl::Status ReadAll(int fd, uint8_t* data, uint64_t length, uint64_t offset) {
  while (length > 0) {
    const ssize_t done = ::pread(fd, data, std::min<uint64_t>(length, 1 << 30), static_cast<off_t>(offset));
    if (done < 0) {
      if (errno == EINTR) continue;
      return ::vmmd::ErrnoToStatus(errno, absl::StrFormat("pread(memory file, offset %#x)", offset));
    }
    if (done == 0) {
      return absl::OutOfRangeError(absl::StrFormat("memory file ends at offset %#x", offset));
    }
    data += done;
    length -= static_cast<uint64_t>(done);
    offset += static_cast<uint64_t>(done);
  }
  return absl::OkStatus();
}

// Copies [offset, +length) of the file into `data`, reading only where the file has data
// (SEEK_DATA / SEEK_HOLE): holes stay untouched anonymous memory, which reads as zero and
// costs nothing.
absl::Status CopyData(int fd, uint8_t* data, uint64_t length, uint64_t offset) {
  const uint64_t end = offset + length;
  uint64_t position = offset;
  while (position < end) {
    const off_t next_data = ::lseek(fd, static_cast<off_t>(position), SEEK_DATA);
    if (next_data < 0) {
      if (errno == ENXIO) return absl::OkStatus();  // only a hole is left
      return ::vmmd::ErrnoToStatus(errno, "lseek(memory file, SEEK_DATA)");
    }
    if (static_cast<uint64_t>(next_data) >= end) return absl::OkStatus();
    const off_t next_hole = ::lseek(fd, next_data, SEEK_HOLE);
    if (next_hole < 0) return ::vmmd::ErrnoToStatus(errno, "lseek(memory file, SEEK_HOLE)");
    const uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(next_hole), end);
    const uint64_t start = static_cast<uint64_t>(next_data);
    RETURN_IF_ERROR(ReadAll(fd, data + (start - offset), stop - start, start));
    position = stop;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GuestMemory> GuestMemory::MapFile(int fd, uint64_t size, FileBacking backing) {
  RETURN_IF_ERROR(CheckSize(size));
  struct stat st;
  if (::fstat(fd, &st) != 0) return ::vmmd::ErrnoToStatus(errno, "fstat(memory file)");
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "memory file is %d bytes (%s); the guest's memory is %d",
        static_cast<int64_t>(st.st_size), S_ISREG(st.st_mode) ? "a regular file" : "not a regular file",
        size));
  }
  GuestMemory memory(size, {});
  uint64_t offset = 0;
  for (const auto& [start, length] : Layout(size)) {
    const bool copy = backing == FileBacking::kCopy;
    // MAP_NORESERVE: a private page costs swap only once the guest writes it.
    void* host = ::mmap(nullptr, length, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_NORESERVE | (copy ? MAP_ANONYMOUS : 0), copy ? -1 : fd,
                        copy ? 0 : static_cast<off_t>(offset));
    if (host == MAP_FAILED) {
      return ::vmmd::ErrnoToStatus(errno, absl::StrFormat("mmap(memory file, %#x bytes at %#x)", length, offset));
    }
    memory.regions_.push_back({GuestAddress(start), length, static_cast<uint8_t*>(host)});
    if (copy) RETURN_IF_ERROR(CopyData(fd, static_cast<uint8_t*>(host), length, offset));
    offset += length;
  }
  return memory;
}

absl::Status GuestMemory::WriteToFile(int fd) const {
  if (::ftruncate(fd, static_cast<off_t>(size_)) != 0) {
    return ::vmmd::ErrnoToStatus(errno, "ftruncate(memory file)");
  }
  uint64_t offset = 0;
  for (const GuestMemoryRegion& region : regions_) {
    // Runs of pages with data are written whole; all-zero pages stay holes.
    uint64_t run_start = 0, run_length = 0;
    for (uint64_t page = 0; page < region.size; page += kPageSize) {
      if (!AllZero(region.host + page)) {
        if (run_length == 0) run_start = page;
        run_length += kPageSize;
        continue;
      }
      if (run_length > 0) {
        RETURN_IF_ERROR(WriteAll(fd, region.host + run_start, run_length, offset + run_start));
        run_length = 0;
      }
    }
    if (run_length > 0) {
      RETURN_IF_ERROR(WriteAll(fd, region.host + run_start, run_length, offset + run_start));
    }
    offset += region.size;
  }
  return absl::OkStatus();
}

}  // namespace vmmd
