#include "boot/mptable.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "boot/layout.h"

namespace vmmd {
namespace {

// Processor signature and features reported for every CPU: family 6 with an on-chip FPU and
// APIC (CPUID.1:EAX and EDX bits 0 and 9). Linux uses the MP table for ids and flags only;
// the real values come from CPUID.
constexpr uint32_t kCpuSignature = 0x600;
constexpr uint32_t kCpuFeatureFpu = 1 << 0;
constexpr uint32_t kCpuFeatureApic = 1 << 9;

constexpr uint8_t kIsaBusId = 0;

uint8_t Checksum(const uint8_t* bytes, size_t length) {
  uint8_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum += bytes[i];
  return static_cast<uint8_t>(-sum);
}

template <typename T>
void Append(std::vector<uint8_t>& out, const T& value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

// Size of the whole structure for the largest vCPU count: it must fit in the reserved area
// between the EBDA and 1 MiB.
constexpr uint64_t MpTableSize(uint32_t vcpus) {
  return sizeof(mp::FloatingPointer) + sizeof(mp::ConfigHeader) +
         vcpus * sizeof(mp::ProcessorEntry) + sizeof(mp::BusEntry) + sizeof(mp::IoApicEntry) +
         (mp::kIsaIrqCount + 2) * sizeof(mp::InterruptEntry);
}
static_assert(layout::kMpTableStart + MpTableSize(kMaxMpTableVcpus) <= layout::kAcpiTablesStart);

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildMpTable(uint32_t vcpu_count,
                                                   GuestAddress table_address) {
  if (vcpu_count == 0 || vcpu_count > kMaxMpTableVcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vcpu_count %d is outside the MP table's range of 1 to %d processors", vcpu_count,
        kMaxMpTableVcpus));
  }
  const uint8_t ioapic_id = MpIoApicId(vcpu_count);
  std::vector<uint8_t> out;
  out.reserve(MpTableSize(vcpu_count));

  mp::FloatingPointer pointer = {};
  std::memcpy(pointer.signature, "_MP_", 4);
  pointer.config_table_address =
      static_cast<uint32_t>(table_address.value() + sizeof(mp::FloatingPointer));
  pointer.length_paragraphs = 1;
  pointer.spec_revision = 4;
  pointer.checksum = Checksum(reinterpret_cast<const uint8_t*>(&pointer), sizeof(pointer));
  Append(out, pointer);

  const size_t header_offset = out.size();
  mp::ConfigHeader header = {};
  std::memcpy(header.signature, "PCMP", 4);
  header.spec_revision = 4;
  std::memcpy(header.oem_id, "VMMD    ", 8);
  std::memcpy(header.product_id, "MICROVM     ", 12);
  header.lapic_address = layout::kLapicAddress;
  Append(out, header);  // length, count and checksum are filled in below

  uint16_t entries = 0;
  for (uint32_t cpu = 0; cpu < vcpu_count; ++cpu, ++entries) {
    mp::ProcessorEntry processor = {};
    processor.type = mp::kProcessor;
    processor.lapic_id = static_cast<uint8_t>(cpu);
    processor.lapic_version = mp::kLapicVersion;
    processor.cpu_flags = mp::kCpuEnabled | (cpu == 0 ? mp::kCpuBootstrap : 0);
    processor.cpu_signature = kCpuSignature;
    processor.feature_flags = kCpuFeatureFpu | kCpuFeatureApic;
    Append(out, processor);
  }

  mp::BusEntry bus = {};
  bus.type = mp::kBus;
  bus.bus_id = kIsaBusId;
  std::memcpy(bus.bus_type, "ISA   ", 6);
  Append(out, bus);
  ++entries;

  mp::IoApicEntry ioapic = {};
  ioapic.type = mp::kIoApic;
  ioapic.ioapic_id = ioapic_id;
  ioapic.ioapic_version = mp::kIoApicVersion;
  ioapic.flags = 1;
  ioapic.address = layout::kIoapicAddress;
  Append(out, ioapic);
  ++entries;

  // ISA IRQ i -> IOAPIC pin i: KVM's default routing wires GSI i to both the PIC and pin i.
  for (uint8_t irq = 0; irq < mp::kIsaIrqCount; ++irq, ++entries) {
    mp::InterruptEntry entry = {};
    entry.type = mp::kIoInterrupt;
    entry.interrupt_type = mp::kInterruptInt;
    entry.source_bus_id = kIsaBusId;
    entry.source_bus_irq = irq;
    entry.destination_id = ioapic_id;
    entry.destination_input = irq;
    Append(out, entry);
  }

  // The PIC's output reaches the BSP's LINT0 (virtual wire mode); NMI goes to LINT1 of all.
  mp::InterruptEntry extint = {};
  extint.type = mp::kLocalInterrupt;
  extint.interrupt_type = mp::kInterruptExtInt;
  extint.source_bus_id = kIsaBusId;
  extint.destination_id = 0;
  extint.destination_input = 0;
  Append(out, extint);
  mp::InterruptEntry nmi = extint;
  nmi.interrupt_type = mp::kInterruptNmi;
  nmi.destination_id = 0xff;
  nmi.destination_input = 1;
  Append(out, nmi);
  entries += 2;

  auto* table = reinterpret_cast<mp::ConfigHeader*>(out.data() + header_offset);
  table->base_table_length = static_cast<uint16_t>(out.size() - header_offset);
  table->entry_count = entries;
  table->checksum = Checksum(out.data() + header_offset, out.size() - header_offset);
  return out;
}

absl::StatusOr<uint64_t> WriteMpTable(GuestMemory& memory, uint32_t vcpu_count) {
  const GuestAddress start(layout::kMpTableStart);
  ASSIGN_OR_RETURN(std::vector<uint8_t> table, BuildMpTable(vcpu_count, start));
  RETURN_IF_ERROR(memory.WriteBytes(start, table));
  return table.size();
}

}  // namespace vmmd
