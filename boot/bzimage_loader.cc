#include "boot/bzimage_loader.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"
#include "boot/zero_page.h"

namespace vmmd {
namespace {

// Legacy bzImages say 0 setup sectors to mean 4 (boot.rst, "setup_sects").
constexpr uint8_t kDefaultSetupSects = 4;
// The real-mode part (boot sector + setup) runs below 0x8000 in a 32 KiB segment, so no
// honest image has more than 63 setup sectors.
constexpr uint8_t kMaxSetupSects = 63;
constexpr uint64_t kSectorSize = 512;

// The header bytes the image states: from 0x1f1 to 0x202 + the byte at 0x201 (boot.rst), at
// most the struct we know.
constexpr size_t kHeaderBytes = sizeof(setup_header);

}  // namespace

bool LooksLikeBzImage(const ImageReader& image) {
  uint16_t boot_flag = 0;
  uint32_t magic = 0;
  return image.ReadAt(offsetof(boot_params, hdr.boot_flag),
                      absl::MakeSpan(reinterpret_cast<uint8_t*>(&boot_flag), 2)).ok() &&
         image.ReadAt(offsetof(boot_params, hdr.header),
                      absl::MakeSpan(reinterpret_cast<uint8_t*>(&magic), 4)).ok() &&
         boot_flag == kBootFlagMagic && magic == kSetupHeaderMagic;
}

absl::StatusOr<LoadedBzImage> LoadBzImage(const ImageReader& image, GuestMemory& memory) {
  if (image.size() < kSetupHeaderOffset + kHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage is %d bytes, too short for a setup header (%d bytes at %#x)", image.size(),
        kHeaderBytes, kSetupHeaderOffset));
  }
  LoadedBzImage loaded;
  std::memset(&loaded.header, 0, sizeof(loaded.header));
  RETURN_IF_ERROR(image.ReadAt(
      kSetupHeaderOffset, absl::MakeSpan(reinterpret_cast<uint8_t*>(&loaded.header), kHeaderBytes)));
  setup_header& header = loaded.header;
  // Bytes past the header's own end (0x202 + jump's high byte) belong to the setup code,
  // not the header: clear them so a short header does not pass code off as fields.
  const size_t stated_end = 0x202 + (header.jump >> 8) - kSetupHeaderOffset;
  if (stated_end < kHeaderBytes) {
    std::memset(reinterpret_cast<uint8_t*>(&header) + stated_end, 0, kHeaderBytes - stated_end);
  }

  // setup_header is packed: fields passed on by reference (StrFormat, std::max) are read
  // into aligned locals first.
  const uint16_t boot_flag = header.boot_flag;
  const uint32_t magic = header.header;
  const uint16_t version = header.version;
  const uint64_t pref_address = header.pref_address;
  const uint32_t init_size = header.init_size;
  if (boot_flag != kBootFlagMagic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "not a bzImage: boot_flag is %#06x, not 0xaa55", boot_flag));
  }
  if (magic != kSetupHeaderMagic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "not a bzImage: setup header magic is %#010x, not \"HdrS\"", magic));
  }
  if (version < kBootProtocol64BitEntry) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage boot protocol %d.%02d is too old: the 64-bit entry needs 2.12 or later",
        version >> 8, version & 0xff));
  }
  if ((header.xloadflags & XLF_KERNEL_64) == 0) {
    return absl::InvalidArgumentError("bzImage has no 64-bit entry (xloadflags lacks XLF_KERNEL_64)");
  }
  if ((header.loadflags & LOADED_HIGH) == 0) {
    return absl::InvalidArgumentError("not a bzImage: loadflags lacks LOADED_HIGH (a zImage)");
  }
  const uint8_t setup_sects = header.setup_sects == 0 ? kDefaultSetupSects : header.setup_sects;
  if (setup_sects > kMaxSetupSects) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage setup_sects is %d; at most %d fit the real-mode area", setup_sects,
        kMaxSetupSects));
  }
  const uint64_t setup_bytes = (uint64_t{setup_sects} + 1) * kSectorSize;
  if (setup_bytes >= image.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage is %d bytes: nothing follows its %d bytes of setup code", image.size(),
        setup_bytes));
  }
  const uint64_t kernel_bytes = image.size() - setup_bytes;

  // A relocatable kernel goes at HIMEM_START and moves itself to an aligned place while it
  // decompresses; any other one where it asks to be (pref_address, protocol 2.10+).
  const uint64_t load = header.relocatable_kernel != 0 || pref_address == 0
                            ? layout::kHighMemStart
                            : pref_address;
  // It then needs init_size bytes from max(load, pref_address) (arch/x86/boot/compressed/
  // head_64.S decompresses in place at LOAD_PHYSICAL_ADDR or above).
  const uint64_t work_start = std::max(load, pref_address);
  // pref_address comes from the image: a sum that wraps past 2^64 must not pass for a small
  // end (a relocatable kernel loads at 1 MiB whatever its pref_address).
  const std::optional<GuestAddress> load_end = GuestAddress(load).CheckedAdd(kernel_bytes);
  const std::optional<GuestAddress> work_end = GuestAddress(work_start).CheckedAdd(init_size);
  if (!load_end || !work_end) {
    return absl::OutOfRangeError(absl::StrFormat(
        "bzImage asks for guest RAM past the 64-bit address space (load %#x, pref_address %#x, "
        "init_size %#x)", load, pref_address, init_size));
  }
  const uint64_t end = std::max(load_end->value(), work_end->value());
  if (load < layout::kHighMemStart || !memory.Contains(GuestAddress(load), end - load)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "bzImage needs guest RAM [%#x, %#x) (%d MiB including init_size %d MiB); the VM has %d MiB",
        load, end, (end + (1 << 20) - 1) >> 20, init_size >> 20, memory.size() >> 20));
  }

  RETURN_IF_ERROR(
      ReadImageIntoGuest(image, setup_bytes, kernel_bytes, memory, GuestAddress(load)));
  loaded.load_address = GuestAddress(load);
  loaded.entry_point = GuestAddress(load + kStartup64Offset);
  loaded.end = GuestAddress(end);
  return loaded;
}

}  // namespace vmmd
