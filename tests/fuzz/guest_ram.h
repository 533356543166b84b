// Guest RAM for the fuzzers that hand it to a queue or a device (virtqueue_fuzzer, the virtio
// device fuzzers): one region at 0, made once per process with guard pages around it and
// cleared for each input, and what their models ask of it.
#ifndef VMMD_TESTS_FUZZ_GUEST_RAM_H_
#define VMMD_TESTS_FUZZ_GUEST_RAM_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"

namespace vmmd::fuzz {

// Guest RAM of `size` bytes with an inaccessible page right below and right above it where
// the address space allows (MAP_FIXED_NOREPLACE): GuestMemory is an mmap that ASan does not
// watch, so a device reaching past it would otherwise corrupt a neighbouring mapping silently
// instead of faulting.
inline std::shared_ptr<GuestMemory> GuardedGuestMemory(uint64_t size) {
  absl::StatusOr<GuestMemory> created = GuestMemory::Create(size);
  FUZZ_CHECK(created.ok(), created.status().ToString());
  auto memory = std::make_shared<GuestMemory>(*std::move(created));
  const long page = ::sysconf(_SC_PAGESIZE);
  uint8_t* host = memory->low_region().host;
  for (uint8_t* guard : {host - page, host + memory->low_region().size}) {
    void* mapped =
        ::mmap(guard, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    // Without MAP_FIXED_NOREPLACE support the hint may land elsewhere: give that back.
    if (mapped != MAP_FAILED && mapped != guard) ::munmap(mapped, page);
  }
  return memory;
}

// The process's guest RAM (GuardedGuestMemory, made on the first call: a fresh mapping per
// input would cost more than the input), all zeros again for the next input. A fuzzer asks
// for one size only.
inline const std::shared_ptr<GuestMemory>& ClearedGuestMemory(uint64_t size) {
  static const std::shared_ptr<GuestMemory>& memory =
      *new std::shared_ptr<GuestMemory>(GuardedGuestMemory(size));
  FUZZ_CHECK(memory->size() == size, "guest RAM of two sizes in one process");
  FUZZ_CHECK(memory->Fill(GuestAddress(0), 0, size).ok(), "clearing RAM");
  return memory;
}

// Guest RAM's bytes, in a buffer the next call reuses (under ASan's quarantine every fresh
// allocation of this size costs page faults, which would dominate an execution).
inline const std::vector<uint8_t>& CopyOfRam(const GuestMemory& memory) {
  static std::vector<uint8_t>& bytes = *new std::vector<uint8_t>();
  bytes.resize(memory.size());
  FUZZ_CHECK(memory.ReadBytes(GuestAddress(0), absl::MakeSpan(bytes)).ok(), "RAM snapshot");
  return bytes;
}

// [address, address + length) inside RAM of `ram_size` bytes at 0, without wrap-around.
inline bool InRam(uint64_t address, uint64_t length, uint64_t ram_size) {
  return address <= ram_size && length <= ram_size - address;
}

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_GUEST_RAM_H_
