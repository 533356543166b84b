// The Intel MultiProcessor table (MP spec 1.4): how a guest without ACPI learns its CPUs,
// buses, IOAPIC and interrupt routing.
//
// Layout at layout::kMpTableStart (the EBDA): the 16-byte floating pointer, then the
// configuration table: header, one processor entry per vCPU, the ISA bus, the IOAPIC, I/O
// interrupt entries for ISA IRQs 0-15 and local interrupt entries ExtINT -> LINT0 and
// NMI -> LINT1.
#ifndef VMMD_BOOT_MPTABLE_H_
#define VMMD_BOOT_MPTABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kvm/guest_memory.h"

namespace vmmd {

// APIC ids are 8 bits and 0xff is the broadcast id; with one id left for the IOAPIC, 254
// processors is what an xAPIC MP table can describe.
inline constexpr uint32_t kMaxMpTableVcpus = 254;

namespace mp {

// Section 4.1: MP floating pointer structure.
struct __attribute__((packed)) FloatingPointer {
  char signature[4];  // "_MP_"
  uint32_t config_table_address;
  uint8_t length_paragraphs;  // 1 (16 bytes)
  uint8_t spec_revision;      // 4 for version 1.4
  uint8_t checksum;           // all 16 bytes sum to 0
  uint8_t features[5];        // feature byte 1 = 0: a configuration table is present
};
static_assert(sizeof(FloatingPointer) == 16);

// Section 4.2: MP configuration table header.
struct __attribute__((packed)) ConfigHeader {
  char signature[4];  // "PCMP"
  uint16_t base_table_length;
  uint8_t spec_revision;
  uint8_t checksum;  // the base table sums to 0
  char oem_id[8];
  char product_id[12];
  uint32_t oem_table_pointer;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_address;
  uint16_t extended_table_length;
  uint8_t extended_table_checksum;
  uint8_t reserved;
};
static_assert(sizeof(ConfigHeader) == 44);

enum EntryType : uint8_t {
  kProcessor = 0,
  kBus = 1,
  kIoApic = 2,
  kIoInterrupt = 3,
  kLocalInterrupt = 4,
};

// Section 4.3.1.
struct __attribute__((packed)) ProcessorEntry {
  uint8_t type;  // kProcessor
  uint8_t lapic_id;
  uint8_t lapic_version;
  uint8_t cpu_flags;  // kCpuEnabled | kCpuBootstrap
  uint32_t cpu_signature;
  uint32_t feature_flags;
  uint32_t reserved[2];
};
static_assert(sizeof(ProcessorEntry) == 20);
inline constexpr uint8_t kCpuEnabled = 1 << 0;
inline constexpr uint8_t kCpuBootstrap = 1 << 1;

// Section 4.3.2.
struct __attribute__((packed)) BusEntry {
  uint8_t type;  // kBus
  uint8_t bus_id;
  char bus_type[6];  // "ISA   "
};
static_assert(sizeof(BusEntry) == 8);

// Section 4.3.3.
struct __attribute__((packed)) IoApicEntry {
  uint8_t type;  // kIoApic
  uint8_t ioapic_id;
  uint8_t ioapic_version;
  uint8_t flags;  // bit 0: enabled
  uint32_t address;
};
static_assert(sizeof(IoApicEntry) == 8);

// Sections 4.3.4 and 4.3.5: I/O and local interrupt assignment entries share a layout.
struct __attribute__((packed)) InterruptEntry {
  uint8_t type;  // kIoInterrupt or kLocalInterrupt
  uint8_t interrupt_type;
  uint16_t flags;  // polarity and trigger mode; 0 = conforms to the bus
  uint8_t source_bus_id;
  uint8_t source_bus_irq;
  uint8_t destination_id;     // IOAPIC id, or LAPIC id (0xff: all)
  uint8_t destination_input;  // IOAPIC pin, or LINTn
};
static_assert(sizeof(InterruptEntry) == 8);

// Table 4-8: interrupt types.
inline constexpr uint8_t kInterruptInt = 0;
inline constexpr uint8_t kInterruptNmi = 1;
inline constexpr uint8_t kInterruptExtInt = 3;

// Versions KVM's in-kernel devices report in their version registers.
inline constexpr uint8_t kLapicVersion = 0x14;
inline constexpr uint8_t kIoApicVersion = 0x11;

inline constexpr uint32_t kIsaIrqCount = 16;

}  // namespace mp

// The floating pointer followed by the configuration table for `vcpu_count` vCPUs (APIC ids
// 0..n-1, vCPU 0 the bootstrap processor), with both checksums set, for `table_address`.
// INVALID_ARGUMENT unless 1 <= vcpu_count <= kMaxMpTableVcpus.
absl::StatusOr<std::vector<uint8_t>> BuildMpTable(uint32_t vcpu_count,
                                                   GuestAddress table_address);

// Builds the table and writes it at layout::kMpTableStart; returns its size in bytes.
absl::StatusOr<uint64_t> WriteMpTable(GuestMemory& memory, uint32_t vcpu_count);

// The IOAPIC's id in the table: the first id after the processors', so it never collides
// with a LAPIC id nor reaches the broadcast id 0xff.
inline constexpr uint8_t MpIoApicId(uint32_t vcpu_count) { return static_cast<uint8_t>(vcpu_count); }

}  // namespace vmmd

#endif  // VMMD_BOOT_MPTABLE_H_
