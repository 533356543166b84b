// The ACPI tables vmmd gives a guest (issue 14): RSDP, XSDT, FADT (hardware-reduced, with a
// sleep control and status register), a DSDT in AML of our own (\_S5, COM1, each virtio-mmio
// device as an LNRO0005 device) and a MADT (a local APIC per vCPU, the IOAPIC, IRQ 0 routed
// to GSI 2, the local APICs' NMI on LINT1). Built as bytes, each with its checksum, laid out
// from a base address: the caller writes them into guest memory and reports them.
#ifndef VMMD_BOOT_ACPI_TABLES_H_
#define VMMD_BOOT_ACPI_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmd::acpi {

// A virtio-mmio device as the DSDT describes it.
struct MmioDevice {
  uint64_t base = 0;
  uint64_t size = 0;
  uint32_t irq = 0;  // a GSI on the IOAPIC
};

struct TablesConfig {
  uint32_t vcpu_count = 1;
  std::vector<MmioDevice> devices;
  // The sleep control and status registers (I/O ports): the guest writes SLP_TYP and SLP_EN
  // to the first to enter a sleep state (S5: off).
  uint16_t sleep_control_port = 0;
  uint16_t sleep_status_port = 0;
  uint64_t ioapic_address = 0;
  uint64_t lapic_address = 0;
};

// S5's SLP_TYP, as \_S5 gives it: what the sleep control register receives (bits 4-2) for
// poweroff. SLP_EN is bit 5.
inline constexpr uint8_t kSleepTypeS5 = 5;
inline constexpr uint8_t kSleepEnable = 1 << 5;

struct Table {
  std::string signature;  // "RSDP" for the root pointer (its own is "RSD PTR ")
  uint64_t address = 0;
  std::vector<uint8_t> bytes;
};

// The tables laid out from `base` (16-byte aligned, as Linux looks for the RSDP): the RSDP
// first, then DSDT, FADT, MADT and XSDT, each 8-byte aligned. INVALID_ARGUMENT for 0 or more
// than 255 vCPUs (a local APIC id is a byte, 255 is broadcast), more devices than a DSDT
// names (1000), a device window beyond 32 bits or an IRQ beyond the IOAPIC's 24 pins, or a
// misaligned base.
absl::StatusOr<std::vector<Table>> BuildTables(const TablesConfig& config, uint64_t base);

// The AML of the DSDT's body alone (for tests and the fuzz target).
absl::StatusOr<std::vector<uint8_t>> BuildDsdtAml(const TablesConfig& config);

}  // namespace vmmd::acpi

#endif  // VMMD_BOOT_ACPI_TABLES_H_
