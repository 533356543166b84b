#include "boot/zero_page.h"

#include "boot/layout.h"

namespace vmmd {

static_assert(sizeof(boot_params) == layout::kZeroPageSize, "boot_params is one page");

boot_params BuildZeroPage(const ZeroPageContents& contents) {
  boot_params params = {};
  if (contents.kernel_header) {
    params.hdr = *contents.kernel_header;
  } else {
    params.hdr.boot_flag = kBootFlagMagic;
    params.hdr.header = kSetupHeaderMagic;
    params.hdr.kernel_alignment = kDefaultKernelAlignment;
  }
  params.hdr.type_of_loader = kLoaderTypeUndefined;
  if (contents.kernel_header) {
    // What boot.rst asks a loader to fill in besides the command line and initrd: the heap
    // the real-mode setup may use ends at 0xde00 ("Sample Boot Configuration"), and the
    // video mode is "normal". The 64-bit entry skips the setup code, but a kernel may read
    // these all the same.
    params.hdr.loadflags |= CAN_USE_HEAP;
    params.hdr.heap_end_ptr = kHeapEndPointer;
    params.hdr.vid_mode = kVideoModeNormal;
  }

  params.hdr.cmd_line_ptr = static_cast<uint32_t>(contents.cmdline.value());
  params.ext_cmd_line_ptr = static_cast<uint32_t>(contents.cmdline.value() >> 32);
  // cmdline_size is the kernel's to state (boot.rst marks it "read"); a vmlinux has no
  // header, so it gets the length we wrote, as the seeds do.
  if (!contents.kernel_header) params.hdr.cmdline_size = contents.cmdline_size;

  // boot.rst marks ramdisk_image and ramdisk_size "write (obligatory)": without an initrd
  // they are 0, whatever a bzImage's own header holds there.
  const uint64_t initrd = contents.initrd_size != 0 ? contents.initrd.value() : 0;
  params.hdr.ramdisk_image = static_cast<uint32_t>(initrd);
  params.ext_ramdisk_image = static_cast<uint32_t>(initrd >> 32);
  params.hdr.ramdisk_size = static_cast<uint32_t>(contents.initrd_size);
  params.ext_ramdisk_size = static_cast<uint32_t>(contents.initrd_size >> 32);
  if (contents.e820 != nullptr) StoreE820Map(*contents.e820, params);
  // Linux reads it first (arch/x86/boot/compressed/acpi.c, get_rsdp_addr) and falls back to
  // scanning the BIOS area, where the RSDP also is.
  params.acpi_rsdp_addr = contents.acpi_rsdp.value();
  return params;
}

absl::Status WriteZeroPage(GuestMemory& memory, const boot_params& params) {
  return memory.Write(GuestAddress(layout::kZeroPageStart), params);
}

}  // namespace vmmd
