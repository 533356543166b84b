// What the kernel-loader fuzzers check of every result: the status codes the loaders'
// headers promise, and that a rejected image left guest memory untouched.
#ifndef VMMD_TESTS_FUZZ_LOADER_CHECKS_H_
#define VMMD_TESTS_FUZZ_LOADER_CHECKS_H_

#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kvm/guest_memory.h"

namespace vmmd::fuzz {

// The guest RAM the loader fuzzers load into: enough for the seeds' kernels (a bzImage with
// init_size), and free to map (GuestMemory maps with MAP_NORESERVE).
inline constexpr uint64_t kLoaderMemorySize = 64 << 20;

// A fresh, untouched kLoaderMemorySize of guest RAM; abort()s if it cannot be mapped.
GuestMemory FreshMemory();

// abort()s unless `status` is OK or has one of `allowed` codes, naming `call`.
void CheckStatusCode(const absl::Status& status, std::initializer_list<absl::StatusCode> allowed,
                     absl::string_view call);

// The host bytes behind guest [address, address + size), which must lie in one region
// (abort()s otherwise): for comparing large ranges without copying them.
const uint8_t* HostBytes(const GuestMemory& memory, uint64_t address, uint64_t size);

// True when no page of `memory` has been written (or read): mincore(2) finds none of its
// anonymous pages resident. The loaders read nothing from guest memory, so a resident page
// is one they wrote.
bool Untouched(const GuestMemory& memory);

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_LOADER_CHECKS_H_
