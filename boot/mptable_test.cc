#include "boot/mptable.h"

#include <cstring>
#include <set>
#include <vector>

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

uint8_t Sum(const std::vector<uint8_t>& bytes, size_t offset, size_t length) {
  uint8_t sum = 0;
  for (size_t i = offset; i < offset + length; ++i) sum += bytes[i];
  return sum;
}

// What a guest would learn from the table, found the way Linux finds it: by the "_MP_"
// signature in the EBDA, then through the pointer.
struct ParsedMpTable {
  int processors = 0;
  int bootstrap_processors = 0;
  std::vector<int> apic_ids;
  int buses = 0;
  int ioapics = 0;
  int ioapic_id = -1;
  std::vector<std::pair<int, int>> irq_to_pin;
  std::vector<mp::InterruptEntry> local_interrupts;
  int entry_count = 0;
};

ParsedMpTable Parse(const GuestMemory& memory, int vcpus) {
  ParsedMpTable parsed;
  const uint64_t base = layout::kMpTableStart;
  std::vector<uint8_t> ebda(1024);
  EXPECT_OK(memory.ReadBytes(GuestAddress(base), absl::MakeSpan(ebda)));
  EXPECT_EQ(std::memcmp(ebda.data(), "_MP_", 4), 0);
  EXPECT_EQ(Sum(ebda, 0, 16), 0) << "floating pointer checksum";
  mp::FloatingPointer pointer;
  std::memcpy(&pointer, ebda.data(), sizeof(pointer));
  EXPECT_EQ(pointer.length_paragraphs, 1);
  EXPECT_EQ(pointer.spec_revision, 4);
  EXPECT_EQ(pointer.features[0], 0);

  mp::ConfigHeader header = memory.Read<mp::ConfigHeader>(GuestAddress(pointer.config_table_address)).value();
  EXPECT_EQ(std::memcmp(header.signature, "PCMP", 4), 0);
  EXPECT_EQ(header.spec_revision, 4);
  EXPECT_EQ(header.lapic_address, layout::kLapicAddress);
  EXPECT_EQ(header.extended_table_length, 0);
  std::vector<uint8_t> table(header.base_table_length);
  EXPECT_OK(memory.ReadBytes(GuestAddress(pointer.config_table_address), absl::MakeSpan(table)));
  EXPECT_EQ(Sum(table, 0, table.size()), 0) << "configuration table checksum";
  parsed.entry_count = header.entry_count;

  size_t offset = sizeof(mp::ConfigHeader);
  for (int i = 0; i < header.entry_count; ++i) {
    EXPECT_LT(offset, table.size());
    switch (table[offset]) {
      case mp::kProcessor: {
        mp::ProcessorEntry cpu;
        std::memcpy(&cpu, &table[offset], sizeof(cpu));
        ++parsed.processors;
        parsed.apic_ids.push_back(cpu.lapic_id);
        EXPECT_TRUE(cpu.cpu_flags & mp::kCpuEnabled);
        if (cpu.cpu_flags & mp::kCpuBootstrap) {
          ++parsed.bootstrap_processors;
          EXPECT_EQ(cpu.lapic_id, 0) << "vCPU 0 is the bootstrap processor";
        }
        offset += sizeof(cpu);
        break;
      }
      case mp::kBus: {
        mp::BusEntry bus;
        std::memcpy(&bus, &table[offset], sizeof(bus));
        EXPECT_EQ(std::memcmp(bus.bus_type, "ISA   ", 6), 0);
        ++parsed.buses;
        offset += sizeof(bus);
        break;
      }
      case mp::kIoApic: {
        mp::IoApicEntry ioapic;
        std::memcpy(&ioapic, &table[offset], sizeof(ioapic));
        ++parsed.ioapics;
        parsed.ioapic_id = ioapic.ioapic_id;
        EXPECT_EQ(ioapic.address, layout::kIoapicAddress);
        EXPECT_EQ(ioapic.flags & 1, 1);
        offset += sizeof(ioapic);
        break;
      }
      case mp::kIoInterrupt: {
        mp::InterruptEntry entry;
        std::memcpy(&entry, &table[offset], sizeof(entry));
        EXPECT_EQ(entry.destination_id, parsed.ioapic_id);
        parsed.irq_to_pin.emplace_back(entry.source_bus_irq, entry.destination_input);
        offset += sizeof(entry);
        break;
      }
      case mp::kLocalInterrupt: {
        mp::InterruptEntry entry;
        std::memcpy(&entry, &table[offset], sizeof(entry));
        parsed.local_interrupts.push_back(entry);
        offset += sizeof(entry);
        break;
      }
      default:
        ADD_FAILURE() << "unknown entry type " << int{table[offset]} << " at " << offset;
        return parsed;
    }
  }
  EXPECT_EQ(offset, table.size()) << "entries fill the table exactly";
  (void)vcpus;
  return parsed;
}

class MpTableTest : public ::testing::TestWithParam<int> {};

TEST_P(MpTableTest, ParsesBackWithValidChecksumsAndOneEntryPerVcpu) {
  const int vcpus = GetParam();
  GuestMemory memory = GuestMemory::Create(1 << 20).value();
  ASSERT_OK_AND_ASSIGN(uint64_t size, WriteMpTable(memory, vcpus));
  EXPECT_EQ(size, 16 + 44 + 20u * vcpus + 8 + 8 + 18 * 8);

  const ParsedMpTable parsed = Parse(memory, vcpus);
  EXPECT_EQ(parsed.processors, vcpus);
  EXPECT_EQ(parsed.bootstrap_processors, 1);
  std::vector<int> expected_ids(vcpus);
  for (int i = 0; i < vcpus; ++i) expected_ids[i] = i;
  EXPECT_EQ(parsed.apic_ids, expected_ids);
  EXPECT_EQ(parsed.buses, 1);
  EXPECT_EQ(parsed.ioapics, 1);
  EXPECT_EQ(parsed.ioapic_id, vcpus);  // first id after the processors
  EXPECT_EQ(std::set<int>(parsed.apic_ids.begin(), parsed.apic_ids.end()).count(parsed.ioapic_id), 0u);
  ASSERT_EQ(parsed.irq_to_pin.size(), 16u);
  for (int irq = 0; irq < 16; ++irq) EXPECT_EQ(parsed.irq_to_pin[irq], std::make_pair(irq, irq));
  ASSERT_EQ(parsed.local_interrupts.size(), 2u);
  EXPECT_EQ(parsed.local_interrupts[0].interrupt_type, mp::kInterruptExtInt);
  EXPECT_EQ(parsed.local_interrupts[0].destination_input, 0);  // LINT0
  EXPECT_EQ(parsed.local_interrupts[1].interrupt_type, mp::kInterruptNmi);
  EXPECT_EQ(parsed.local_interrupts[1].destination_input, 1);  // LINT1
  EXPECT_EQ(parsed.entry_count, vcpus + 1 + 1 + 16 + 2);
}

INSTANTIATE_TEST_SUITE_P(VcpuCounts, MpTableTest, ::testing::Values(1, 2, 64, 254));

TEST(MpTableLimitsTest, TwoHundredFiftyFiveVcpusAreRejected) {
  GuestMemory memory = GuestMemory::Create(1 << 20).value();
  EXPECT_THAT(WriteMpTable(memory, 255),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("vcpu_count 255 is outside the MP table's range of 1 to 254")));
  EXPECT_THAT(WriteMpTable(memory, 0), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  // Nothing was written.
  EXPECT_EQ(memory.Read<uint32_t>(GuestAddress(layout::kMpTableStart)).value(), 0u);
}

TEST(MpTableLimitsTest, TheLargestTableStaysBelowOneMiB) {
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> table, BuildMpTable(254, GuestAddress(layout::kMpTableStart)));
  EXPECT_LE(layout::kMpTableStart + table.size(), layout::kHighMemStart);
}

TEST(MpTableLimitsTest, MemoryEndingBeforeTheEbdaIsOutOfRange) {
  GuestMemory memory = GuestMemory::Create(0x80000).value();
  EXPECT_THAT(WriteMpTable(memory, 1), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
}

}  // namespace
}  // namespace vmmd
