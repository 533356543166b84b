// Fuzzes the ELF kernel loader. Input: the bytes of a kernel image.
//
// LoadElfKernel loads it into 64 MiB of fresh guest RAM, and FindPvhEntry looks for its PVH
// note (on every input, although the daemon calls it only on images LoadElfKernel took: it
// reads the ELF header itself and must not crash on any). Checked, from elf_loader.h and
// pvh.h:
//   - errors are INVALID_ARGUMENT or OUT_OF_RANGE (FindPvhEntry: INVALID_ARGUMENT), and a
//     rejected image wrote nothing to guest memory ("nothing is written to guest memory
//     unless the whole image checks out");
//   - an accepted image occupies exactly the span of its non-empty PT_LOAD segments, at or
//     above HIMEM_START and inside RAM, with the entry point inside one of them;
//   - each segment's file bytes are in guest memory at its physical address and its bss is
//     zero (checked when segments do not overlap, since later ones overwrite earlier ones).
#include <elf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "boot/elf_loader.h"
#include "boot/image_reader.h"
#include "boot/layout.h"
#include "boot/pvh.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/loader_checks.h"

namespace vmmd::fuzz {
namespace {

// The image's non-empty PT_LOAD headers, read directly from the bytes (which LoadElfKernel
// accepted, so the header and program headers are there).
std::vector<Elf64_Phdr> LoadSegments(const uint8_t* data, size_t size) {
  Elf64_Ehdr header;
  std::memcpy(&header, data, sizeof(header));
  std::vector<Elf64_Phdr> loads;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr;
    FUZZ_CHECK(header.e_phoff + (i + 1) * sizeof(phdr) <= size, "accepted truncated headers");
    std::memcpy(&phdr, data + header.e_phoff + i * sizeof(phdr), sizeof(phdr));
    if (phdr.p_type == PT_LOAD && phdr.p_memsz != 0) loads.push_back(phdr);
  }
  return loads;
}

bool Overlap(const std::vector<Elf64_Phdr>& loads) {
  for (size_t i = 0; i < loads.size(); ++i) {
    for (size_t j = i + 1; j < loads.size(); ++j) {
      if (loads[i].p_paddr < loads[j].p_paddr + loads[j].p_memsz &&
          loads[j].p_paddr < loads[i].p_paddr + loads[i].p_memsz) {
        return true;
      }
    }
  }
  return false;
}

void CheckLoaded(const uint8_t* data, size_t size, const LoadedKernel& kernel,
                 const GuestMemory& memory) {
  const std::vector<Elf64_Phdr> loads = LoadSegments(data, size);
  FUZZ_CHECK(!loads.empty(), "accepted an image without a PT_LOAD segment");
  uint64_t low = UINT64_MAX, high = 0;
  bool entry_inside = false;
  for (const Elf64_Phdr& segment : loads) {
    FUZZ_CHECK(segment.p_paddr >= layout::kHighMemStart,
               absl::StrFormat("segment at %#x, below HIMEM_START", segment.p_paddr));
    FUZZ_CHECK(memory.Contains(GuestAddress(segment.p_paddr), segment.p_memsz),
               absl::StrFormat("segment [%#x, +%#x) outside RAM", segment.p_paddr, segment.p_memsz));
    FUZZ_CHECK(segment.p_filesz <= segment.p_memsz, "file size above memory size accepted");
    FUZZ_CHECK(segment.p_offset <= size && segment.p_filesz <= size - segment.p_offset,
               "segment beyond the image accepted");
    low = std::min(low, segment.p_paddr);
    high = std::max(high, segment.p_paddr + segment.p_memsz);
    entry_inside |= kernel.entry_point.value() >= segment.p_paddr &&
                    kernel.entry_point.value() - segment.p_paddr < segment.p_memsz;
  }
  FUZZ_CHECK(kernel.start.value() == low && kernel.end.value() == high,
             absl::StrFormat("loaded span [%#x, %#x), segments span [%#x, %#x)",
                             kernel.start.value(), kernel.end.value(), low, high));
  FUZZ_CHECK(entry_inside, absl::StrFormat("entry %#x outside every segment",
                                           kernel.entry_point.value()));
  if (Overlap(loads)) return;
  for (const Elf64_Phdr& segment : loads) {
    // Compared in place: a segment may be most of guest RAM.
    const uint8_t* in_memory = HostBytes(memory, segment.p_paddr, segment.p_memsz);
    FUZZ_CHECK(segment.p_filesz == 0 ||
                   std::memcmp(in_memory, data + segment.p_offset, segment.p_filesz) == 0,
               absl::StrFormat("segment at %#x differs from the file", segment.p_paddr));
    FUZZ_CHECK(std::all_of(in_memory + segment.p_filesz, in_memory + segment.p_memsz,
                           [](uint8_t byte) { return byte == 0; }),
               absl::StrFormat("bss of the segment at %#x is not zero", segment.p_paddr));
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd;
  using namespace vmmd::fuzz;
  const BytesImageReader image(absl::MakeConstSpan(data, size));
  GuestMemory memory = FreshMemory();
  absl::StatusOr<LoadedKernel> loaded = LoadElfKernel(image, memory);
  if (loaded.ok()) {
    CheckLoaded(data, size, *loaded, memory);
  } else {
    CheckStatusCode(loaded.status(),
                    {absl::StatusCode::kInvalidArgument, absl::StatusCode::kOutOfRange},
                    "LoadElfKernel");
    FUZZ_CHECK(Untouched(memory), "LoadElfKernel wrote to guest memory, then failed: " +
                                      loaded.status().ToString());
  }
  absl::StatusOr<std::optional<uint32_t>> pvh = FindPvhEntry(image);
  CheckStatusCode(pvh.status(), {absl::StatusCode::kInvalidArgument}, "FindPvhEntry");
  return 0;
}
