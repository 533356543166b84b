#include "boot/kernel_loader.h"

#include <elf.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/bzimage_loader.h"
#include "boot/elf_loader.h"
#include "boot/pvh.h"

namespace vmmd {

absl::StatusOr<BootProtocolChoice> ParseBootProtocol(absl::string_view name) {
  if (name.empty() || name == "auto") return BootProtocolChoice::kAuto;
  if (name == "linux64") return BootProtocolChoice::kLinux64;
  if (name == "pvh") return BootProtocolChoice::kPvh;
  return absl::InvalidArgumentError(
      absl::StrCat("boot_protocol \"", name, "\" is not one of auto, linux64, pvh"));
}

const char* BootProtocolName(BootProtocol protocol) {
  return protocol == BootProtocol::kPvh ? "pvh" : "linux64";
}

absl::StatusOr<KernelImage> LoadKernel(const ImageReader& image, GuestMemory& memory,
                                       BootProtocolChoice choice) {
  uint8_t magic[SELFMAG] = {};
  const bool is_elf = image.ReadAt(0, absl::MakeSpan(magic, SELFMAG)).ok() &&
                      std::memcmp(magic, ELFMAG, SELFMAG) == 0;
  KernelImage kernel;
  if (is_elf) {
    ASSIGN_OR_RETURN(LoadedKernel loaded, LoadElfKernel(image, memory));
    ASSIGN_OR_RETURN(std::optional<uint32_t> pvh_entry, FindPvhEntry(image));
    if (choice == BootProtocolChoice::kPvh && !pvh_entry) {
      return absl::InvalidArgumentError(
          "boot_protocol pvh: the kernel has no PVH entry (XEN_ELFNOTE_PHYS32_ENTRY note)");
    }
    kernel.format = "elf";
    kernel.start = loaded.start;
    kernel.end = loaded.end;
    if (pvh_entry && choice != BootProtocolChoice::kLinux64) {
      if (!memory.Contains(GuestAddress(*pvh_entry), 1)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "kernel's PVH entry %#x is not in guest RAM", *pvh_entry));
      }
      kernel.protocol = BootProtocol::kPvh;
      kernel.entry_point = GuestAddress(*pvh_entry);
    } else {
      kernel.protocol = BootProtocol::kLinux64;
      kernel.entry_point = loaded.entry_point;
    }
    return kernel;
  }
  if (LooksLikeBzImage(image)) {
    if (choice == BootProtocolChoice::kPvh) {
      return absl::InvalidArgumentError(
          "boot_protocol pvh needs an ELF kernel (vmlinux); a bzImage boots with linux64");
    }
    ASSIGN_OR_RETURN(LoadedBzImage loaded, LoadBzImage(image, memory));
    kernel.format = "bzimage";
    kernel.protocol = BootProtocol::kLinux64;
    kernel.entry_point = loaded.entry_point;
    kernel.start = loaded.load_address;
    kernel.end = loaded.end;
    kernel.header = loaded.header;
    return kernel;
  }
  if (image.size() < SELFMAG) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel image is %d bytes: too short to be a kernel", image.size()));
  }
  return absl::InvalidArgumentError(
      "kernel image is neither an ELF vmlinux nor a bzImage (no ELF magic, no \"HdrS\" header)");
}

}  // namespace vmmd
