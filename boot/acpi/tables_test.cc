#include "boot/acpi/tables.h"

#include <cstring>
#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::acpi {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kBase = 0xe0000;

TablesConfig SomeConfig(uint32_t vcpus, size_t devices) {
  TablesConfig config;
  config.vcpu_count = vcpus;
  for (size_t i = 0; i < devices; ++i) {
    config.devices.push_back(MmioDevice{0xd0000000 + i * 0x1000, 0x1000, static_cast<uint32_t>(5 + i)});
  }
  config.sleep_control_port = 0x600;
  config.sleep_status_port = 0x601;
  config.ioapic_address = 0xfec00000;
  config.lapic_address = 0xfee00000;
  return config;
}

uint64_t Read(const std::vector<uint8_t>& bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) value |= uint64_t{bytes[offset + i]} << (8 * i);
  return value;
}

uint8_t Sum(const std::vector<uint8_t>& bytes, size_t begin, size_t end) {
  uint8_t sum = 0;
  for (size_t i = begin; i < end; ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
  return sum;
}

const Table& Find(const std::vector<Table>& tables, const std::string& signature) {
  for (const Table& table : tables) {
    if (table.signature == signature) return table;
  }
  ADD_FAILURE() << "no " << signature;
  return tables.front();
}

TEST(TablesTest, EveryTableChecksumsAndSaysItsLength) {
  absl::StatusOr<std::vector<Table>> tables = BuildTables(SomeConfig(2, 3), kBase);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 5u);
  uint64_t end = kBase;
  for (const Table& table : *tables) {
    EXPECT_GE(table.address, end) << table.signature << " overlaps the one before";
    end = table.address + table.bytes.size();
    if (table.signature == "RSDP") continue;
    EXPECT_EQ(std::string(table.bytes.begin(), table.bytes.begin() + 4), table.signature);
    EXPECT_EQ(Read(table.bytes, 4, 4), table.bytes.size()) << table.signature;
    EXPECT_EQ(Sum(table.bytes, 0, table.bytes.size()), 0) << table.signature;
    EXPECT_EQ(table.address % 8, 0u) << table.signature;
  }
}

TEST(TablesTest, TheRsdpLeadsToTheXsdtWhichLeadsToTheRest) {
  absl::StatusOr<std::vector<Table>> tables = BuildTables(SomeConfig(1, 0), kBase);
  ASSERT_TRUE(tables.ok()) << tables.status();
  const Table& rsdp = Find(*tables, "RSDP");
  EXPECT_EQ(rsdp.address, kBase);
  ASSERT_EQ(rsdp.bytes.size(), 36u);
  EXPECT_EQ(std::string(rsdp.bytes.begin(), rsdp.bytes.begin() + 8), "RSD PTR ");
  EXPECT_EQ(Sum(rsdp.bytes, 0, 20), 0);
  EXPECT_EQ(Sum(rsdp.bytes, 0, 36), 0);
  EXPECT_EQ(rsdp.bytes[15], 2);  // revision
  EXPECT_EQ(Read(rsdp.bytes, 20, 4), 36u);
  const Table& xsdt = Find(*tables, "XSDT");
  EXPECT_EQ(Read(rsdp.bytes, 24, 8), xsdt.address);
  ASSERT_EQ(xsdt.bytes.size(), 36u + 16);
  EXPECT_EQ(Read(xsdt.bytes, 36, 8), Find(*tables, "FACP").address);
  EXPECT_EQ(Read(xsdt.bytes, 44, 8), Find(*tables, "APIC").address);
}

TEST(TablesTest, TheFadtIsHardwareReducedWithASleepRegister) {
  absl::StatusOr<std::vector<Table>> tables = BuildTables(SomeConfig(1, 0), kBase);
  ASSERT_TRUE(tables.ok()) << tables.status();
  const Table& fadt = Find(*tables, "FACP");
  ASSERT_EQ(fadt.bytes.size(), 276u);  // ACPI 6.5's FADT
  EXPECT_EQ(fadt.bytes[8], 6);         // revision
  EXPECT_EQ(fadt.bytes[131], 5);       // minor version
  EXPECT_NE(Read(fadt.bytes, 112, 4) & (1u << 20), 0u) << "HW_REDUCED_ACPI";
  const uint64_t dsdt = Find(*tables, "DSDT").address;
  EXPECT_EQ(Read(fadt.bytes, 40, 4), dsdt);
  EXPECT_EQ(Read(fadt.bytes, 140, 8), dsdt);
  // SLEEP_CONTROL_REG and SLEEP_STATUS_REG: byte-wide system I/O at the configured ports.
  EXPECT_EQ(fadt.bytes[244], 1);
  EXPECT_EQ(fadt.bytes[245], 8);
  EXPECT_EQ(Read(fadt.bytes, 248, 8), 0x600u);
  EXPECT_EQ(fadt.bytes[256], 1);
  EXPECT_EQ(Read(fadt.bytes, 260, 8), 0x601u);
}

TEST(TablesTest, TheMadtHasOneLocalApicPerVcpu) {
  for (uint32_t vcpus : {1u, 2u, 64u, 254u}) {
    absl::StatusOr<std::vector<Table>> tables = BuildTables(SomeConfig(vcpus, 0), kBase);
    ASSERT_TRUE(tables.ok()) << tables.status();
    const Table& madt = Find(*tables, "APIC");
    EXPECT_EQ(Read(madt.bytes, 36, 4), 0xfee00000u);
    uint32_t lapics = 0, ioapics = 0, overrides = 0, nmis = 0;
    for (size_t at = 44; at < madt.bytes.size();) {
      const uint8_t type = madt.bytes[at];
      const uint8_t length = madt.bytes[at + 1];
      ASSERT_GT(length, 0);
      if (type == 0) {
        EXPECT_EQ(madt.bytes[at + 3], lapics) << "APIC id";
        EXPECT_EQ(Read(madt.bytes, at + 4, 4), 1u) << "enabled";
        ++lapics;
      } else if (type == 1) {
        EXPECT_EQ(madt.bytes[at + 2], vcpus) << "the IOAPIC's id follows the CPUs'";
        EXPECT_EQ(Read(madt.bytes, at + 4, 4), 0xfec00000u);
        ++ioapics;
      } else if (type == 2) {
        EXPECT_EQ(madt.bytes[at + 3], 0);  // IRQ 0
        EXPECT_EQ(Read(madt.bytes, at + 4, 4), 2u);  // GSI 2
        ++overrides;
      } else if (type == 4) {
        EXPECT_EQ(madt.bytes[at + 5], 1);  // LINT1
        ++nmis;
      }
      at += length;
    }
    EXPECT_EQ(lapics, vcpus);
    EXPECT_EQ(ioapics, 1u);
    EXPECT_EQ(overrides, 1u);
    EXPECT_EQ(nmis, 1u);
  }
}

TEST(TablesTest, TheDsdtNamesEachDeviceAndS5) {
  absl::StatusOr<std::vector<Table>> tables = BuildTables(SomeConfig(1, 3), kBase);
  ASSERT_TRUE(tables.ok()) << tables.status();
  const Table& dsdt = Find(*tables, "DSDT");
  const std::string text(dsdt.bytes.begin(), dsdt.bytes.end());
  size_t devices = 0;
  for (size_t at = text.find("LNRO0005"); at != std::string::npos; at = text.find("LNRO0005", at + 1)) {
    ++devices;
  }
  EXPECT_EQ(devices, 3u);
  EXPECT_THAT(text, HasSubstr("V000"));
  EXPECT_THAT(text, HasSubstr("V002"));
  EXPECT_THAT(text, HasSubstr("COM1"));
  EXPECT_THAT(text, HasSubstr("_S5_"));
}

TEST(TablesTest, WhatTheTablesCannotSayIsRefused) {
  EXPECT_THAT(BuildTables(SomeConfig(0, 0), kBase),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vCPUs")));
  EXPECT_THAT(BuildTables(SomeConfig(255, 0), kBase),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vCPUs")));
  TablesConfig high = SomeConfig(1, 1);
  high.devices[0].base = 0xfffff800;
  EXPECT_THAT(BuildTables(high, kBase), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bits")));
  TablesConfig pin = SomeConfig(1, 1);
  pin.devices[0].irq = 24;
  EXPECT_THAT(BuildTables(pin, kBase), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IRQ 24")));
  EXPECT_THAT(BuildTables(SomeConfig(1, 1001), kBase),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("devices")));
  EXPECT_THAT(BuildTables(SomeConfig(1, 0), kBase + 4),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("aligned")));
}

}  // namespace
}  // namespace vmmd::acpi
