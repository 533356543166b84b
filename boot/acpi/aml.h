// A small AML (ACPI Machine Language) builder: the bytecode of the objects vmmd's DSDT holds
// (ACPI 6.5, chapter 20), not a general compiler. Each function returns the encoded object;
// objects nest by passing one's bytes into another. Names are checked, never trusted: they
// come from device lists a client shapes.
#ifndef VMMD_BOOT_ACPI_AML_H_
#define VMMD_BOOT_ACPI_AML_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vmmd::acpi {

using Aml = std::vector<uint8_t>;

// The longest package AML can say (a PkgLength's 28 bits).
inline constexpr size_t kMaxPackageLength = (size_t{1} << 28) - 1;

// A NameString (20.2.2): an optional root "\" then 1 to 255 segments joined by ".", each
// 1 to 4 of [A-Z0-9_] not starting with a digit (padded to 4 with "_"). INVALID_ARGUMENT
// naming what is wrong otherwise.
absl::StatusOr<Aml> NameString(absl::string_view path);

// Data objects (20.2.3).
Aml Integer(uint64_t value);  // the shortest encoding: Zero, One, Byte, Word, DWord or QWord
// A String: printable ASCII only (INVALID_ARGUMENT otherwise), at most 255 characters.
absl::StatusOr<Aml> String(absl::string_view text);
// "PNP0501" as the 32-bit compressed EISA id (a DWord); INVALID_ARGUMENT unless three
// letters A-Z then four hex digits.
absl::StatusOr<Aml> EisaId(absl::string_view id);
// A Package of already-encoded data objects (at most 255).
absl::StatusOr<Aml> Package(absl::Span<const Aml> elements);

// Named objects and scopes (20.2.5). The body is the concatenation of the contained objects.
absl::StatusOr<Aml> Name(absl::string_view path, const Aml& value);
absl::StatusOr<Aml> Scope(absl::string_view path, absl::Span<const Aml> body);
absl::StatusOr<Aml> Device(absl::string_view path, absl::Span<const Aml> body);

// Resource descriptors (6.4), for ResourceTemplate.
Aml IoPort(uint16_t base, uint8_t length);  // I/O, 16-bit decode, fixed at `base`
Aml IrqNoFlags(uint8_t irq);                // an ISA IRQ (0-15): edge, active high
Aml Memory32Fixed(uint32_t base, uint32_t length, bool writable);
// An Extended Interrupt: a consumer, exclusive, edge-triggered and active high (how vmmd's
// irqfd lines behave).
Aml ExtendedInterrupt(uint32_t gsi);
// A Buffer holding `descriptors` and the End Tag (its checksum 0: "treated as correct").
absl::StatusOr<Aml> ResourceTemplate(absl::Span<const Aml> descriptors);

}  // namespace vmmd::acpi

#endif  // VMMD_BOOT_ACPI_AML_H_
