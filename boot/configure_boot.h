// The boot layer's one entry point: given a VM's vCPUs, its memory (kernel already loaded)
// and a boot request, write every boot structure into guest memory and program every vCPU.
#ifndef VMMD_BOOT_CONFIGURE_BOOT_H_
#define VMMD_BOOT_CONFIGURE_BOOT_H_

#include <asm/bootparam.h>
#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "boot/acpi/guest_tables.h"
#include "boot/acpi/tables.h"
#include "boot/e820.h"
#include "boot/image_reader.h"
#include "boot/kernel_loader.h"
#include "kvm/guest_memory.h"
#include "kvm/vcpu.h"

namespace vmmd {

struct BootRequest {
  BootProtocol protocol = BootProtocol::kLinux64;
  GuestAddress entry_point;  // the kernel's entry for `protocol`, already loaded in memory
  GuestAddress kernel_end;   // one past the loaded kernel; the initrd must start above it
  std::string cmdline;
  const ImageReader* initrd = nullptr;  // none, or empty: no initrd; read into guest RAM
  // A bzImage's setup header, copied into the zero page; its cmdline_size and
  // initrd_addr_max bound the command line and initrd. Absent for an ELF vmlinux.
  std::optional<setup_header> kernel_header;
  // ACPI tables beside the MP table (boot/acpi), their DSDT naming these virtio-mmio
  // devices; without, the guest learns its CPUs from the MP table alone.
  bool acpi = false;
  std::vector<acpi::MmioDevice> acpi_devices;
};

// What the guest will be told, as written.
struct BootInfo {
  BootProtocol protocol = BootProtocol::kLinux64;
  GuestAddress entry_point;
  GuestAddress zero_page;    // linux64: RSI
  GuestAddress start_info;   // pvh: EBX, the hvm_start_info
  GuestAddress cmdline;
  uint64_t cmdline_size = 0;  // bytes, NUL included
  GuestAddress initrd;
  uint64_t initrd_size = 0;
  GuestAddress mp_table;  // the MP floating pointer
  uint64_t mp_table_size = 0;
  GuestAddress page_table_root;
  uint64_t identity_mapped_bytes = 0;
  GuestAddress stack_pointer;
  std::vector<E820Entry> e820;
  GuestAddress acpi_rsdp;  // 0 without ACPI
  std::vector<acpi::TableInfo> acpi_tables;
};

// Writes the command line, initrd, e820 map, MP table and (if asked) ACPI tables for a VM of
// `vcpu_count` vCPUs,
// and for the 64-bit protocol the page tables, GDT/IDT and zero page, for PVH the 32-bit
// GDT/IDT and hvm_start_info. Needs no /dev/kvm. INVALID_ARGUMENT for a bad vcpu_count or
// cmdline, OUT_OF_RANGE when something does not fit in guest memory.
absl::StatusOr<BootInfo> WriteBootStructures(GuestMemory& memory, const BootRequest& request,
                                             uint32_t vcpu_count);

// The VM as the boot layer sees it: what CPUID the host offers, and the vCPUs in id order
// (vcpus[0] is the bootstrap processor).
struct BootVm {
  absl::Span<const kvm_cpuid_entry2> supported_cpuid;
  absl::Span<Vcpu* const> vcpus;
};

// WriteBootStructures, then ProgramVcpu for every vCPU. Errors as above, plus the status of
// a failing vCPU ioctl (naming the vCPU).
absl::StatusOr<BootInfo> ConfigureBoot(const BootVm& vm, GuestMemory& memory,
                                       const BootRequest& request);

}  // namespace vmmd

#endif  // VMMD_BOOT_CONFIGURE_BOOT_H_
