#include "tests/fuzz/loader_checks.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/fuzz/fuzz_check.h"

namespace vmmd::fuzz {

GuestMemory FreshMemory() {
  absl::StatusOr<GuestMemory> memory = GuestMemory::Create(kLoaderMemorySize);
  FUZZ_CHECK(memory.ok(), memory.status().ToString());
  return std::move(*memory);
}

void CheckStatusCode(const absl::Status& status, std::initializer_list<absl::StatusCode> allowed,
                     absl::string_view call) {
  if (status.ok()) return;
  FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), status.code()) != allowed.end(),
             absl::StrCat(call, " returned an undocumented status: ", status.ToString()));
}

const uint8_t* HostBytes(const GuestMemory& memory, uint64_t address, uint64_t size) {
  for (const GuestMemoryRegion& region : memory.regions()) {
    if (address >= region.start.value() && size <= region.size &&
        address - region.start.value() <= region.size - size) {
      return region.host + (address - region.start.value());
    }
  }
  FUZZ_CHECK(false, absl::StrCat("guest range [", address, ", +", size, ") is not in one region"));
  return nullptr;
}

bool Untouched(const GuestMemory& memory) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (const GuestMemoryRegion& region : memory.regions()) {
    std::vector<unsigned char> resident((region.size + page - 1) / page);
    FUZZ_CHECK(::mincore(region.host, region.size, resident.data()) == 0, "mincore failed");
    for (unsigned char flags : resident) {
      if (flags & 1) return false;
    }
  }
  return true;
}

}  // namespace vmmd::fuzz
