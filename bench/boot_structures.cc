// The boot layer's memory-structure part (WriteBootStructures: cmdline, e820, page tables,
// GDT/IDT, zero page, MP table), called --calls times for a VM of --vcpus vCPUs, for
// instruction counts under callgrind. No KVM: nothing in it depends on the host's timing, so
// the count is the same run after run. tools/bench runs:
//
//   valgrind --tool=callgrind --collect-atstart=no
//       --toggle-collect='vmmd::WriteBootStructures(*' boot_structures --vcpus=8 --calls=20
//
// and divides the collected instructions by --calls.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "boot/configure_boot.h"
#include "boot/layout.h"

ABSL_FLAG(int, vcpus, 1, "vCPUs in the MP table");
ABSL_FLAG(int, calls, 20, "calls of WriteBootStructures");
ABSL_FLAG(uint64_t, memory_mib, 128, "guest RAM");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<vmmd::GuestMemory> memory =
      vmmd::GuestMemory::Create(absl::GetFlag(FLAGS_memory_mib) << 20);
  if (!memory.ok()) {
    std::fprintf(stderr, "boot_structures: %s\n", memory.status().ToString().c_str());
    return 1;
  }
  // The same request as //boot:boot_benchmark.
  vmmd::BootRequest request;
  request.entry_point = vmmd::GuestAddress(vmmd::layout::kHighMemStart);
  request.cmdline = "console=ttyS0 reboot=k panic=1 pci=off";
  const uint32_t vcpus = static_cast<uint32_t>(absl::GetFlag(FLAGS_vcpus));
  for (int i = 0; i < absl::GetFlag(FLAGS_calls); ++i) {
    absl::StatusOr<vmmd::BootInfo> info = vmmd::WriteBootStructures(*memory, request, vcpus);
    if (!info.ok()) {
      std::fprintf(stderr, "boot_structures: %s\n", info.status().ToString().c_str());
      return 1;
    }
  }
  return 0;
}
