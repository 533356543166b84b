#include "boot/acpi/guest_tables.h"

#include "absl/strings/str_format.h"
#include "boot/layout.h"

namespace vmmd::acpi {

absl::StatusOr<std::vector<TableInfo>> WriteGuestTables(GuestMemory& memory, uint32_t vcpu_count,
                                                        const std::vector<MmioDevice>& devices) {
  TablesConfig config;
  config.vcpu_count = vcpu_count;
  config.devices = devices;
  config.sleep_control_port = layout::kAcpiSleepControlPort;
  config.sleep_status_port = layout::kAcpiSleepStatusPort;
  config.ioapic_address = layout::kIoapicAddress;
  config.lapic_address = layout::kLapicAddress;
  absl::StatusOr<std::vector<Table>> tables = BuildTables(config, layout::kAcpiTablesStart);
  if (!tables.ok()) return tables.status();
  std::vector<TableInfo> written;
  for (const Table& table : *tables) {
    if (table.address + table.bytes.size() > layout::kHighMemStart) {
      return absl::OutOfRangeError(absl::StrFormat(
          "ACPI: the %s table would end at %#x, past the tables' range [%#x, %#x)", table.signature,
          table.address + table.bytes.size(), layout::kAcpiTablesStart, layout::kHighMemStart));
    }
    if (absl::Status status = memory.WriteBytes(GuestAddress(table.address), table.bytes); !status.ok()) {
      return status;
    }
    written.push_back({table.signature, GuestAddress(table.address), table.bytes.size()});
  }
  return written;
}

}  // namespace vmmd::acpi
