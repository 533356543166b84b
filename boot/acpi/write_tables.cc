// write_tables DIR VCPUS DEVICES: writes the tables BuildTables makes for VCPUS vCPUs and
// DEVICES virtio-mmio devices into DIR, one file per table (DSDT.dat, FACP.dat, ...), for a
// tool we did not write to read back (tables_iasl_test runs acpica's iasl -d on them).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "boot/acpi/tables.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR VCPUS DEVICES\n", argv[0]);
    return 2;
  }
  vmmd::acpi::TablesConfig config;
  config.vcpu_count = static_cast<uint32_t>(std::atoi(argv[2]));
  const int devices = std::atoi(argv[3]);
  for (int i = 0; i < devices; ++i) {
    config.devices.push_back({0xd0000000ull + i * 0x1000ull, 0x1000, static_cast<uint32_t>(5 + i)});
  }
  config.sleep_control_port = 0x600;
  config.sleep_status_port = 0x601;
  config.ioapic_address = 0xfec00000;
  config.lapic_address = 0xfee00000;
  absl::StatusOr<std::vector<vmmd::acpi::Table>> tables = vmmd::acpi::BuildTables(config, 0xe0000);
  if (!tables.ok()) {
    std::fprintf(stderr, "write_tables: %s\n", tables.status().ToString().c_str());
    return 1;
  }
  for (const vmmd::acpi::Table& table : *tables) {
    const std::string path = std::string(argv[1]) + "/" + table.signature + ".dat";
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr ||
        std::fwrite(table.bytes.data(), 1, table.bytes.size(), file) != table.bytes.size() ||
        std::fclose(file) != 0) {
      std::fprintf(stderr, "write_tables: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
