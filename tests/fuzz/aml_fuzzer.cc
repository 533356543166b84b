// Fuzzes the ACPI tables' builders (boot/acpi/aml.h, tables.h) with the inputs a client's VM
// shapes: names, and device lists (windows, IRQs) and vCPU counts.
//
// Input, read through FuzzedDataProvider: a vCPU count uint16, a device count uint16 in
// [0, 1100], then per device its base uint64, size uint32 and IRQ uint8; then names (strings)
// until the data runs out. Invariants:
//   - a refusal is INVALID_ARGUMENT with a message;
//   - an accepted NameString is the root byte if asked, a prefix for 2+ segments, and 4
//     bytes of [A-Z0-9_] per segment;
//   - accepted tables: every table's checksum sums to 0 and its length field is its size,
//     the RSDP's two checksums hold, the DSDT names every device once (LNRO0005), the MADT
//     has one local APIC entry per vCPU, and no table overlaps the next.
//
// Built with -DVMMD_AML_FUZZER_SEED_GEN, this file is the seed generator instead:
// aml_seed_gen KIND OUT_DIR SEED... writes inputs.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boot/acpi/aml.h"
#include "boot/acpi/tables.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/seed_file.h"

#ifdef VMMD_AML_FUZZER_SEED_GEN

namespace {

void Put(std::string& out, uint64_t value, int bytes) {
  // FuzzedDataProvider takes integers from the end of the data, most significant byte first.
  for (int i = 0; i < bytes; ++i) out.insert(out.begin(), static_cast<char>(value >> (8 * i)));
}

// A vCPU count and devices as vmmd would lay them out, then names (strings from the front).
std::string Seed(uint16_t vcpus, uint16_t devices, const std::string& names) {
  std::string tail;
  Put(tail, vcpus, 2);
  Put(tail, devices, 2);
  for (uint16_t i = 0; i < devices; ++i) {
    Put(tail, 0xd0000000ull + i * 0x1000ull, 8);
    Put(tail, 0x1000, 4);
    Put(tail, 5 + i, 1);
  }
  return names + tail;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s KIND OUT_DIR SEED...\n", argv[0]);
    return 2;
  }
  for (int i = 3; i < argc; ++i) {
    const std::string name = argv[i];
    std::string bytes;
    if (name == "one_vcpu") {
      bytes = Seed(1, 0, "_SB\\_S5COM1");
    } else if (name == "four_devices") {
      bytes = Seed(4, 4, "\\_SB.V000A.B.C");
    } else if (name == "many_vcpus") {
      bytes = Seed(254, 17, "1BAD..x");
    } else {
      std::fprintf(stderr, "aml_seed_gen: no seed %s\n", argv[i]);
      return 1;
    }
    if (!vmmd::fuzz::WriteSeedFile("aml_seed_gen", argv[2], name, bytes)) return 1;
  }
  return 0;
}

#else

namespace vmmd::fuzz::aml {
namespace {

bool IsRefusal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument && !status.message().empty();
}

uint64_t Read(const std::vector<uint8_t>& bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) value |= uint64_t{bytes[offset + i]} << (8 * i);
  return value;
}

bool SumsToZero(const std::vector<uint8_t>& bytes, size_t end) {
  uint8_t sum = 0;
  for (size_t i = 0; i < end; ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
  return sum == 0;
}

void CheckName(const std::string& path) {
  absl::StatusOr<acpi::Aml> name = acpi::NameString(path);
  if (!name.ok()) {
    FUZZ_CHECK(IsRefusal(name.status()), name.status().ToString());
    return;
  }
  const bool root = !path.empty() && path[0] == '\\';
  size_t segments = 1;
  for (char c : path) segments += c == '.';
  const size_t prefix = segments == 1 ? 0 : segments == 2 ? 1 : 2;
  FUZZ_CHECK(name->size() == (root ? 1 : 0) + prefix + 4 * segments, "NameString's length");
  for (size_t i = name->size() - 4 * segments; i < name->size(); ++i) {
    const uint8_t c = (*name)[i];
    FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_',
               "a NameString byte outside [A-Z0-9_]");
  }
  absl::StatusOr<acpi::Aml> device = acpi::Device(path, {acpi::Integer(path.size())});
  FUZZ_CHECK(device.ok(), "a name NameString takes makes a Device");
}

void CheckTables(const acpi::TablesConfig& config) {
  absl::StatusOr<std::vector<acpi::Table>> tables = acpi::BuildTables(config, 0xe0000);
  if (!tables.ok()) {
    FUZZ_CHECK(IsRefusal(tables.status()), tables.status().ToString());
    return;
  }
  uint64_t end = 0;
  for (const acpi::Table& table : *tables) {
    FUZZ_CHECK(table.address >= end, table.signature + " overlaps the table before");
    end = table.address + table.bytes.size();
    if (table.signature == "RSDP") {
      FUZZ_CHECK(table.bytes.size() == 36 && SumsToZero(table.bytes, 20) && SumsToZero(table.bytes, 36),
                 "the RSDP's checksums");
      continue;
    }
    FUZZ_CHECK(Read(table.bytes, 4, 4) == table.bytes.size(), table.signature + "'s length");
    FUZZ_CHECK(SumsToZero(table.bytes, table.bytes.size()), table.signature + "'s checksum");
    if (table.signature == "DSDT") {
      const std::string text(table.bytes.begin(), table.bytes.end());
      size_t named = 0;
      for (size_t at = text.find("LNRO0005"); at != std::string::npos; at = text.find("LNRO0005", at + 1)) {
        ++named;
      }
      FUZZ_CHECK(named == config.devices.size(), "the DSDT names each device once");
    }
    if (table.signature == "APIC") {
      uint32_t lapics = 0;
      for (size_t at = 44; at + 2 <= table.bytes.size() && table.bytes[at + 1] > 0; at += table.bytes[at + 1]) {
        lapics += table.bytes[at] == 0;
      }
      FUZZ_CHECK(lapics == config.vcpu_count, "one local APIC per vCPU");
    }
  }
}

}  // namespace
}  // namespace vmmd::fuzz::aml

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd;
  FuzzedDataProvider input(data, size);
  acpi::TablesConfig config;
  config.vcpu_count = input.ConsumeIntegral<uint16_t>();
  const uint16_t devices = input.ConsumeIntegralInRange<uint16_t>(0, 1100);
  for (uint16_t i = 0; i < devices && input.remaining_bytes() > 0; ++i) {
    acpi::MmioDevice device;
    device.base = input.ConsumeIntegral<uint64_t>();
    device.size = input.ConsumeIntegral<uint32_t>();
    device.irq = input.ConsumeIntegral<uint8_t>();
    config.devices.push_back(device);
  }
  config.sleep_control_port = 0x600;
  config.sleep_status_port = 0x601;
  config.ioapic_address = 0xfec00000;
  config.lapic_address = 0xfee00000;
  fuzz::aml::CheckTables(config);
  while (input.remaining_bytes() > 0) fuzz::aml::CheckName(input.ConsumeRandomLengthString(300));
  return 0;
}

#endif
