// The request messages request_validation_fuzzer takes. An input is one byte naming the
// message (its index here, modulo the count) followed by the serialized message; the seed
// generator writes seeds the same way.
#ifndef VMMD_TESTS_FUZZ_REQUEST_KINDS_H_
#define VMMD_TESTS_FUZZ_REQUEST_KINDS_H_

#include <cstddef>

namespace vmmd::fuzz {

inline constexpr const char* kRequestKinds[] = {
    "vmm.v1.CreateVmRequest",     "vmm.v1.ConfigureBootRequest", "vmm.v1.StartVcpusRequest",
    "vmm.v1.GetVmRequest",        "vmm.v1.ListVmsRequest",       "vmm.v1.PauseVmRequest",
    "vmm.v1.ResumeVmRequest",     "vmm.v1.StopVmRequest",        "vmm.v1.DeleteVmRequest",
    "vmm.v1.StreamConsoleRequest", "vmm.v1.WatchVmRequest",
};
inline constexpr size_t kRequestKindCount = sizeof(kRequestKinds) / sizeof(kRequestKinds[0]);

// In kernel_path and initrd_path, these stand for the fuzzer's two image roots (temporary
// directories whose names seeds cannot know).
inline constexpr char kRootToken[] = "$ROOT";
inline constexpr char kOtherRootToken[] = "$OTHER";

}  // namespace vmmd::fuzz

#endif  // VMMD_TESTS_FUZZ_REQUEST_KINDS_H_
