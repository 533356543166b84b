// The ACPI tables as a guest gets them: built by tables.h for the VM's vCPUs and devices and
// written into guest memory at layout::kAcpiTablesStart, with vmmd's sleep registers and
// interrupt controllers filled in from boot/layout.h.
#ifndef VMMD_BOOT_ACPI_GUEST_TABLES_H_
#define VMMD_BOOT_ACPI_GUEST_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boot/acpi/tables.h"
#include "kvm/guest_memory.h"

namespace vmmd::acpi {

// Where one table went, as BootInfo reports it.
struct TableInfo {
  std::string signature;  // "RSDP", "XSDT", "FACP", "DSDT", "APIC"
  GuestAddress address;
  uint64_t length = 0;
};

// Writes the tables for `vcpu_count` vCPUs and `devices`; the RSDP comes first. Errors as
// BuildTables, and OUT_OF_RANGE if they would run past 1 MiB or out of guest RAM.
absl::StatusOr<std::vector<TableInfo>> WriteGuestTables(GuestMemory& memory, uint32_t vcpu_count,
                                                        const std::vector<MmioDevice>& devices);

}  // namespace vmmd::acpi

#endif  // VMMD_BOOT_ACPI_GUEST_TABLES_H_
