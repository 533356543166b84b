// Fuzzes the bzImage loader and the kernel-format dispatch. Input: the bytes of a kernel
// image (the seeds are bzImages and one ELF).
//
// LoadBzImage, then LoadKernel with each BootProtocolChoice, each into 64 MiB of fresh guest
// RAM. Checked, from bzimage_loader.h and kernel_loader.h (boot.rst for the header):
//   - errors are INVALID_ARGUMENT or OUT_OF_RANGE; a bzImage LoadBzImage rejects wrote
//     nothing to guest memory;
//   - an accepted bzImage has the magic values, protocol 2.12+, XLF_KERNEL_64 and
//     LOADED_HIGH; it is loaded at or above HIMEM_START, entered at load + 0x200, ends
//     inside RAM, and guest memory holds the image's protected-mode part (everything after
//     the boot sector and setup_sects setup sectors) at the load address;
//   - the returned header is the image's bytes from 0x1f1 up to the end the header states
//     (0x202 + the byte at 0x201), zero beyond it;
//   - LoadKernel agrees: an ELF is "elf" (linux64 when asked, pvh when asked and it works,
//     and auto picks pvh exactly when FindPvhEntry finds an entry); a bzImage is "bzimage",
//     never pvh, and loads exactly when LoadBzImage does, with the same entry and header;
//     anything else is INVALID_ARGUMENT.
#include <asm/bootparam.h>
#include <elf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boot/bzimage_loader.h"
#include "boot/image_reader.h"
#include "boot/kernel_loader.h"
#include "boot/layout.h"
#include "boot/pvh.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/loader_checks.h"

namespace vmmd::fuzz {
namespace {

constexpr std::initializer_list<absl::StatusCode> kLoaderErrors = {
    absl::StatusCode::kInvalidArgument, absl::StatusCode::kOutOfRange};

void CheckBzImage(const uint8_t* data, size_t size, const LoadedBzImage& loaded,
                  const GuestMemory& memory) {
  // The header as stated in the image (boot.rst: "the header ends at 0x202 + the byte at
  // 0x201"), the rest of struct setup_header zero.
  setup_header expected;
  std::memset(&expected, 0, sizeof(expected));
  FUZZ_CHECK(size >= kSetupHeaderOffset + sizeof(expected), "accepted a truncated header");
  const size_t stated = std::min<size_t>(sizeof(expected), 0x202 + data[0x201] - kSetupHeaderOffset);
  std::memcpy(&expected, data + kSetupHeaderOffset, stated);
  FUZZ_CHECK(std::memcmp(&expected, &loaded.header, sizeof(expected)) == 0,
             "the returned setup header is not the image's");
  const setup_header& header = loaded.header;
  FUZZ_CHECK(header.boot_flag == 0xaa55 && header.header == 0x53726448, "bad magic accepted");
  FUZZ_CHECK(header.version >= 0x020c, "boot protocol before 2.12 accepted");
  FUZZ_CHECK((header.xloadflags & XLF_KERNEL_64) && (header.loadflags & LOADED_HIGH),
             "no 64-bit entry or not loaded high, accepted");

  const uint64_t load = loaded.load_address.value();
  FUZZ_CHECK(load >= layout::kHighMemStart, absl::StrFormat("loaded at %#x", load));
  FUZZ_CHECK(loaded.entry_point.value() == load + 0x200,
             absl::StrFormat("entry %#x for load address %#x", loaded.entry_point.value(), load));
  // boot.rst: setup_sects 0 means 4.
  const uint64_t setup_bytes = (uint64_t{data[0x1f1] == 0 ? 4u : data[0x1f1]} + 1) * 512;
  FUZZ_CHECK(setup_bytes < size, "accepted an image with nothing after its setup code");
  const uint64_t kernel_bytes = size - setup_bytes;
  FUZZ_CHECK(loaded.end.value() >= load + kernel_bytes && loaded.end.value() <= memory.size(),
             absl::StrFormat("end %#x for [%#x, +%#x) in %#x bytes of RAM", loaded.end.value(),
                             load, kernel_bytes, memory.size()));
  std::vector<uint8_t> in_memory(kernel_bytes);
  FUZZ_CHECK(memory.ReadBytes(loaded.load_address, absl::MakeSpan(in_memory)).ok(), "unreadable");
  FUZZ_CHECK(std::memcmp(in_memory.data(), data + setup_bytes, kernel_bytes) == 0,
             "guest memory does not hold the protected-mode kernel");
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd;
  using namespace vmmd::fuzz;
  const BytesImageReader image(absl::MakeConstSpan(data, size));

  GuestMemory bz_memory = FreshMemory();
  absl::StatusOr<LoadedBzImage> bzimage = LoadBzImage(image, bz_memory);
  if (bzimage.ok()) {
    CheckBzImage(data, size, *bzimage, bz_memory);
  } else {
    CheckStatusCode(bzimage.status(), kLoaderErrors, "LoadBzImage");
    FUZZ_CHECK(Untouched(bz_memory), "LoadBzImage wrote to guest memory, then failed: " +
                                         bzimage.status().ToString());
  }

  const bool is_elf = size >= SELFMAG && std::memcmp(data, ELFMAG, SELFMAG) == 0;
  const bool looks_bzimage = LooksLikeBzImage(image);
  absl::StatusOr<std::optional<uint32_t>> pvh_entry = FindPvhEntry(image);
  for (BootProtocolChoice choice :
       {BootProtocolChoice::kAuto, BootProtocolChoice::kLinux64, BootProtocolChoice::kPvh}) {
    GuestMemory memory = FreshMemory();
    absl::StatusOr<KernelImage> kernel = LoadKernel(image, memory, choice);
    CheckStatusCode(kernel.status(), kLoaderErrors, "LoadKernel");
    const char* choice_name = choice == BootProtocolChoice::kAuto      ? "auto"
                              : choice == BootProtocolChoice::kLinux64 ? "linux64"
                                                                       : "pvh";
    if (is_elf) {
      if (!kernel.ok()) continue;
      FUZZ_CHECK(kernel->format == "elf", kernel->format);
      FUZZ_CHECK(!kernel->header.has_value(), "an ELF kernel with a setup header");
      // LoadKernel took the image, so FindPvhEntry (which it also calls) succeeded.
      FUZZ_CHECK(pvh_entry.ok(), pvh_entry.status().ToString());
      const BootProtocol expected =
          choice == BootProtocolChoice::kLinux64 ? BootProtocol::kLinux64
          : choice == BootProtocolChoice::kPvh   ? BootProtocol::kPvh
          : pvh_entry->has_value()               ? BootProtocol::kPvh
                                                 : BootProtocol::kLinux64;
      FUZZ_CHECK(kernel->protocol == expected,
                 absl::StrCat("boot_protocol ", choice_name, " entered by ",
                              BootProtocolName(kernel->protocol)));
      if (kernel->protocol == BootProtocol::kPvh) {
        FUZZ_CHECK(kernel->entry_point.value() == **pvh_entry, "PVH entry is not the note's");
      }
    } else if (looks_bzimage) {
      if (choice == BootProtocolChoice::kPvh) {
        FUZZ_CHECK(kernel.status().code() == absl::StatusCode::kInvalidArgument,
                   "boot_protocol pvh for a bzImage: " + kernel.status().ToString());
        continue;
      }
      FUZZ_CHECK(kernel.ok() == bzimage.ok(),
                 absl::StrCat("LoadKernel(", choice_name, "): ", kernel.status().ToString(),
                              "; LoadBzImage: ", bzimage.status().ToString()));
      if (!kernel.ok()) continue;
      FUZZ_CHECK(kernel->format == "bzimage" && kernel->protocol == BootProtocol::kLinux64,
                 kernel->format);
      FUZZ_CHECK(kernel->entry_point == bzimage->entry_point &&
                     kernel->start == bzimage->load_address && kernel->end == bzimage->end,
                 "LoadKernel and LoadBzImage disagree on where the kernel is");
      FUZZ_CHECK(kernel->header.has_value() &&
                     std::memcmp(&*kernel->header, &bzimage->header, sizeof(setup_header)) == 0,
                 "LoadKernel and LoadBzImage disagree on the setup header");
    } else {
      FUZZ_CHECK(kernel.status().code() == absl::StatusCode::kInvalidArgument,
                 "neither ELF nor bzImage: " + kernel.status().ToString());
      FUZZ_CHECK(Untouched(memory), "an image of no known format wrote to guest memory");
    }
  }
  return 0;
}
