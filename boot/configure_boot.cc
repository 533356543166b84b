#include "boot/configure_boot.h"

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/cmdline.h"
#include "boot/e820.h"
#include "boot/gdt.h"
#include "boot/initrd.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "boot/page_tables.h"
#include "boot/pvh.h"
#include "boot/vcpu_setup.h"
#include "boot/zero_page.h"

namespace vmmd {
namespace {

// boot.rst: initrd_addr_max is 0x37ffffff for boot protocols before 2.03, which lack it.
constexpr uint32_t kLegacyInitrdAddrMax = 0x37ffffff;

uint64_t InitrdAddrMax(const BootRequest& request) {
  if (!request.kernel_header) return UINT32_MAX;
  return request.kernel_header->initrd_addr_max != 0 ? request.kernel_header->initrd_addr_max
                                                     : kLegacyInitrdAddrMax;
}

}  // namespace

absl::StatusOr<BootInfo> WriteBootStructures(GuestMemory& memory, const BootRequest& request,
                                             uint32_t vcpu_count) {
  if (vcpu_count == 0 || vcpu_count > kMaxMpTableVcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vcpu_count %d is outside 1 to %d", vcpu_count, kMaxMpTableVcpus));
  }
  BootInfo info;
  info.protocol = request.protocol;
  info.entry_point = request.entry_point;
  info.stack_pointer = GuestAddress(layout::kBootStackPointer);

  RETURN_IF_ERROR(
      WriteCmdline(memory, request.cmdline, KernelCmdlineLimit(request.kernel_header)));
  info.cmdline = GuestAddress(layout::kCmdlineStart);
  info.cmdline_size = request.cmdline.size() + 1;

  const uint64_t initrd_size = request.initrd ? request.initrd->size() : 0;
  if (initrd_size != 0) {
    ASSIGN_OR_RETURN(info.initrd, InitrdLoadAddress(memory, initrd_size, InitrdAddrMax(request)));
    if (info.initrd < request.kernel_end) {
      return absl::OutOfRangeError(absl::StrFormat(
          "initrd of %d bytes would start at %#x, inside the kernel (which ends at %#x); give "
          "the VM more memory",
          initrd_size, info.initrd.value(), request.kernel_end.value()));
    }
    RETURN_IF_ERROR(ReadImageIntoGuest(*request.initrd, 0, initrd_size, memory, info.initrd));
    info.initrd_size = initrd_size;
  }

  ASSIGN_OR_RETURN(E820Map e820, BuildE820Map(memory, request.acpi));
  info.e820.assign(e820.entries().begin(), e820.entries().end());

  if (request.acpi) {
    ASSIGN_OR_RETURN(info.acpi_tables,
                     acpi::WriteGuestTables(memory, vcpu_count, request.acpi_devices));
    info.acpi_rsdp = info.acpi_tables.front().address;  // the RSDP comes first
  }

  if (request.protocol == BootProtocol::kPvh) {
    // Paging stays off: the kernel builds its own tables from its 32-bit entry.
    RETURN_IF_ERROR(WriteBootGdtAndIdt(memory, kPvhGdt));
    PvhContents contents;
    contents.cmdline = info.cmdline;
    contents.initrd = info.initrd;
    contents.initrd_size = info.initrd_size;
    contents.memory_map = info.e820;
    contents.rsdp = info.acpi_rsdp;
    ASSIGN_OR_RETURN(info.start_info, WritePvhStartInfo(memory, contents));
  } else {
    ASSIGN_OR_RETURN(info.page_table_root, WriteIdentityPageTables(memory));
    info.identity_mapped_bytes = kIdentityMappedBytes;
    RETURN_IF_ERROR(WriteBootGdtAndIdt(memory, kBootGdt));
    ZeroPageContents contents;
    contents.kernel_header = request.kernel_header;
    contents.cmdline = info.cmdline;
    contents.cmdline_size = static_cast<uint32_t>(info.cmdline_size);
    contents.initrd = info.initrd;
    contents.initrd_size = info.initrd_size;
    contents.e820 = &e820;
    contents.acpi_rsdp = info.acpi_rsdp;
    RETURN_IF_ERROR(WriteZeroPage(memory, BuildZeroPage(contents)));
    info.zero_page = GuestAddress(layout::kZeroPageStart);
  }

  info.mp_table = GuestAddress(layout::kMpTableStart);
  ASSIGN_OR_RETURN(info.mp_table_size, WriteMpTable(memory, vcpu_count));
  return info;
}

absl::StatusOr<BootInfo> ConfigureBoot(const BootVm& vm, GuestMemory& memory,
                                       const BootRequest& request) {
  const uint32_t vcpu_count = static_cast<uint32_t>(vm.vcpus.size());
  ASSIGN_OR_RETURN(BootInfo info, WriteBootStructures(memory, request, vcpu_count));
  VcpuBootState state;
  state.protocol = info.protocol;
  state.start_info = info.start_info;
  state.supported_cpuid = vm.supported_cpuid;
  state.vcpu_count = vcpu_count;
  state.entry = info.entry_point;
  state.zero_page = info.zero_page;
  state.stack = info.stack_pointer;
  state.page_table_root = info.page_table_root;
  for (Vcpu* vcpu : vm.vcpus) RETURN_IF_ERROR(ProgramVcpu(*vcpu, state));
  return info;
}

}  // namespace vmmd
