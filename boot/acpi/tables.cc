#include "boot/acpi/tables.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boot/acpi/aml.h"

namespace vmmd::acpi {
namespace {

constexpr uint32_t kMaxVcpus = 254;     // as the MP table: APIC ids 0-254, the IOAPIC next
constexpr size_t kMaxDevices = 1000;    // V000-V999
constexpr uint32_t kIoapicPins = 24;
constexpr size_t kHeaderSize = 36;

// `value`'s low `bytes` bytes (1 to 8), little-endian.
void Put(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void PutZeros(std::vector<uint8_t>& out, size_t count) { out.insert(out.end(), count, 0); }

void PutText(std::vector<uint8_t>& out, const char* text, size_t width) {
  const size_t length = std::strlen(text);
  for (size_t i = 0; i < width; ++i) out.push_back(i < length ? static_cast<uint8_t>(text[i]) : ' ');
}

void PutAt(std::vector<uint8_t>& out, size_t offset, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

// The byte that makes `bytes[begin, end)` sum to zero, written at `at`.
void SetChecksum(std::vector<uint8_t>& bytes, size_t at, size_t begin, size_t end) {
  bytes[at] = 0;
  uint8_t sum = 0;
  for (size_t i = begin; i < end; ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
  bytes[at] = static_cast<uint8_t>(-sum);
}

// The 36-byte header every system description table starts with (5.2.6); Finish fills in
// the length and the checksum.
std::vector<uint8_t> Header(const char* signature, uint8_t revision) {
  std::vector<uint8_t> out;
  PutText(out, signature, 4);
  Put(out, 0, 4);  // length
  out.push_back(revision);
  out.push_back(0);  // checksum
  PutText(out, "VMMD", 6);
  PutText(out, absl::StrCat("VMMD", signature).c_str(), 8);
  Put(out, 1, 4);  // OEM revision
  PutText(out, "VMMD", 4);
  Put(out, 1, 4);  // creator revision
  return out;
}

std::vector<uint8_t> Finish(std::vector<uint8_t> table) {
  PutAt(table, 4, table.size(), 4);
  SetChecksum(table, 9, 0, table.size());
  return table;
}

// A Generic Address Structure (5.2.3.2) for a byte-wide I/O port.
void PutIoPort(std::vector<uint8_t>& out, uint16_t port) {
  out.push_back(1);  // system I/O space
  out.push_back(8);  // bit width
  out.push_back(0);  // bit offset
  out.push_back(1);  // byte access
  Put(out, port, 8);
}

void PutNoRegister(std::vector<uint8_t>& out) { PutZeros(out, 12); }

std::vector<uint8_t> Fadt(const TablesConfig& config, uint64_t dsdt) {
  constexpr uint32_t kHwReducedAcpi = 1u << 20;
  // IAPC_BOOT_ARCH: an i8042 at 0x60/0x64 (vmmd's answers the reset line), no VGA, no MSI
  // (no PCI), no CMOS RTC.
  constexpr uint16_t kBootArch = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5);
  std::vector<uint8_t> out = Header("FACP", 6);
  Put(out, 0, 4);                                  // FIRMWARE_CTRL: no FACS (hardware-reduced)
  Put(out, dsdt, 4);                               // DSDT
  Put(out, 0, 1);                                  // reserved
  Put(out, 0, 1);                                  // preferred PM profile: unspecified
  Put(out, 0, 2);                                  // SCI_INT: none (hardware-reduced)
  PutZeros(out, 4 + 1 + 1 + 1 + 1);                  // SMI_CMD .. PSTATE_CNT
  PutZeros(out, 4 * 8);                            // the fixed-hardware register blocks
  Put(out, 0, 8);                                  // their lengths, GPE1_BASE, CST_CNT
  PutZeros(out, 2 + 2 + 2 + 2 + 1 + 1 + 1 + 1 + 1);  // P_LVL2_LAT .. CENTURY
  Put(out, kBootArch, 2);
  Put(out, 0, 1);  // reserved
  Put(out, kHwReducedAcpi, 4);
  PutNoRegister(out);  // RESET_REG
  Put(out, 0, 1);      // RESET_VALUE
  Put(out, 0, 2);      // ARM_BOOT_ARCH
  Put(out, 5, 1);      // FADT minor version: ACPI 6.5
  Put(out, 0, 8);      // X_FIRMWARE_CTRL
  Put(out, dsdt, 8);   // X_DSDT
  for (int i = 0; i < 8; ++i) PutNoRegister(out);  // X_PM1a_EVT_BLK .. X_GPE1_BLK
  PutIoPort(out, config.sleep_control_port);
  PutIoPort(out, config.sleep_status_port);
  PutText(out, "VMMD", 8);  // hypervisor vendor identity
  return Finish(std::move(out));
}

std::vector<uint8_t> Madt(const TablesConfig& config) {
  constexpr uint32_t kPcatCompat = 1;  // the dual 8259s are there too
  std::vector<uint8_t> out = Header("APIC", 6);
  Put(out, config.lapic_address, 4);
  Put(out, kPcatCompat, 4);
  for (uint32_t cpu = 0; cpu < config.vcpu_count; ++cpu) {
    out.push_back(0);  // processor local APIC
    out.push_back(8);
    out.push_back(static_cast<uint8_t>(cpu));  // ACPI processor UID
    out.push_back(static_cast<uint8_t>(cpu));  // APIC id
    Put(out, 1, 4);                            // enabled
  }
  out.push_back(1);  // I/O APIC
  out.push_back(12);
  out.push_back(static_cast<uint8_t>(config.vcpu_count));  // its id: after the CPUs', as the MP table's
  out.push_back(0);
  Put(out, config.ioapic_address, 4);
  Put(out, 0, 4);  // GSI base
  out.push_back(2);  // interrupt source override: ISA IRQ 0 (the PIT) is GSI 2
  out.push_back(10);
  out.push_back(0);  // ISA bus
  out.push_back(0);  // IRQ 0
  Put(out, 2, 4);
  Put(out, 0, 2);    // conforming polarity and trigger
  out.push_back(4);  // local APIC NMI: every processor's LINT1
  out.push_back(6);
  out.push_back(0xff);
  Put(out, 0, 2);
  out.push_back(1);
  return Finish(std::move(out));
}

std::vector<uint8_t> Xsdt(const std::vector<uint64_t>& tables) {
  std::vector<uint8_t> out = Header("XSDT", 1);
  for (uint64_t table : tables) Put(out, table, 8);
  return Finish(std::move(out));
}

std::vector<uint8_t> Rsdp(uint64_t xsdt) {
  std::vector<uint8_t> out;
  PutText(out, "RSD PTR ", 8);
  out.push_back(0);  // checksum of the first 20 bytes
  PutText(out, "VMMD", 6);
  out.push_back(2);  // revision: ACPI 2.0 and later
  Put(out, 0, 4);    // RSDT: none, the XSDT only
  Put(out, 36, 4);   // length
  Put(out, xsdt, 8);
  out.push_back(0);  // extended checksum, of all 36
  Put(out, 0, 3);
  SetChecksum(out, 8, 0, 20);
  SetChecksum(out, 32, 0, 36);
  return out;
}

absl::Status Check(const TablesConfig& config) {
  if (config.vcpu_count == 0 || config.vcpu_count > kMaxVcpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ACPI: %d vCPUs; the MADT takes 1 to %d", config.vcpu_count, kMaxVcpus));
  }
  if (config.devices.size() > kMaxDevices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ACPI: %d devices; the DSDT names at most %d", config.devices.size(), kMaxDevices));
  }
  for (size_t i = 0; i < config.devices.size(); ++i) {
    const MmioDevice& device = config.devices[i];
    if (device.size == 0 || device.base + device.size > (uint64_t{1} << 32) ||
        device.base + device.size < device.base) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ACPI: device %d's window [%#x, +%#x) is not within 32 bits", i, device.base, device.size));
    }
    if (device.irq >= kIoapicPins) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ACPI: device %d's IRQ %d is beyond the IOAPIC's %d pins", i, device.irq, kIoapicPins));
    }
  }
  return absl::OkStatus();
}

uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildDsdtAml(const TablesConfig& config) {
  if (absl::Status checked = Check(config); !checked.ok()) return checked;
  std::vector<Aml> devices;
  // COM1: a 16550 at 0x3f8, IRQ 4.
  absl::StatusOr<Aml> com1_id = EisaId("PNP0501");
  absl::StatusOr<Aml> com1_hid = Name("_HID", *com1_id);
  absl::StatusOr<Aml> com1_uid = Name("_UID", Integer(0));
  absl::StatusOr<Aml> com1_resources = ResourceTemplate({IoPort(0x3f8, 8), IrqNoFlags(4)});
  if (!com1_id.ok() || !com1_hid.ok() || !com1_uid.ok() || !com1_resources.ok()) {
    return absl::InternalError("ACPI: COM1's AML");
  }
  absl::StatusOr<Aml> com1_crs = Name("_CRS", *com1_resources);
  absl::StatusOr<Aml> com1 = Device("COM1", {*com1_hid, *com1_uid, *com1_crs});
  if (!com1.ok()) return com1.status();
  devices.push_back(*com1);
  for (size_t i = 0; i < config.devices.size(); ++i) {
    const MmioDevice& device = config.devices[i];
    absl::StatusOr<Aml> hid_text = String("LNRO0005");  // virtio-mmio (Linux's virtio_mmio ACPI id)
    absl::StatusOr<Aml> resources = ResourceTemplate(
        {Memory32Fixed(static_cast<uint32_t>(device.base), static_cast<uint32_t>(device.size), true),
         ExtendedInterrupt(device.irq)});
    if (!hid_text.ok() || !resources.ok()) return absl::InternalError("ACPI: a device's AML");
    absl::StatusOr<Aml> hid = Name("_HID", *hid_text);
    absl::StatusOr<Aml> uid = Name("_UID", Integer(i));
    absl::StatusOr<Aml> crs = Name("_CRS", *resources);
    if (!hid.ok() || !uid.ok() || !crs.ok()) return absl::InternalError("ACPI: a device's AML");
    absl::StatusOr<Aml> named = Device(absl::StrFormat("V%03d", i), {*hid, *uid, *crs});
    if (!named.ok()) return named.status();
    devices.push_back(*named);
  }
  absl::StatusOr<Aml> bus = Scope("\\_SB", devices);
  if (!bus.ok()) return bus.status();
  // \_S5: SLP_TYPa and SLP_TYPb, what the guest writes to the sleep control register to
  // power off.
  absl::StatusOr<Aml> s5_package = Package({Integer(kSleepTypeS5), Integer(kSleepTypeS5)});
  if (!s5_package.ok()) return s5_package.status();
  absl::StatusOr<Aml> s5 = Name("\\_S5", *s5_package);
  if (!s5.ok()) return s5.status();
  std::vector<uint8_t> aml = *bus;
  aml.insert(aml.end(), s5->begin(), s5->end());
  return aml;
}

absl::StatusOr<std::vector<Table>> BuildTables(const TablesConfig& config, uint64_t base) {
  if (base % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("ACPI: base %#x is not 16-byte aligned", base));
  }
  absl::StatusOr<std::vector<uint8_t>> aml = BuildDsdtAml(config);
  if (!aml.ok()) return aml.status();
  std::vector<uint8_t> dsdt = Header("DSDT", 2);
  dsdt.insert(dsdt.end(), aml->begin(), aml->end());
  dsdt = Finish(std::move(dsdt));

  const uint64_t rsdp_address = base;
  const uint64_t dsdt_address = AlignUp(rsdp_address + 36, 8);
  std::vector<uint8_t> fadt = Fadt(config, dsdt_address);
  const uint64_t fadt_address = AlignUp(dsdt_address + dsdt.size(), 8);
  std::vector<uint8_t> madt = Madt(config);
  const uint64_t madt_address = AlignUp(fadt_address + fadt.size(), 8);
  const uint64_t xsdt_address = AlignUp(madt_address + madt.size(), 8);
  std::vector<uint8_t> xsdt = Xsdt({fadt_address, madt_address});
  return std::vector<Table>{
      {"RSDP", rsdp_address, Rsdp(xsdt_address)},
      {"DSDT", dsdt_address, std::move(dsdt)},
      {"FACP", fadt_address, std::move(fadt)},
      {"APIC", madt_address, std::move(madt)},
      {"XSDT", xsdt_address, std::move(xsdt)},
  };
}

}  // namespace vmmd::acpi
