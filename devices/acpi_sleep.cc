#include "devices/acpi_sleep.h"

#include <algorithm>

#include "boot/acpi/tables.h"

namespace vmmd {

void AcpiSleep::Read(uint16_t, absl::Span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
}

void AcpiSleep::Write(uint16_t offset, absl::Span<const uint8_t> data) {
  if (offset != 0 || data.empty()) return;  // the status register: nothing to clear
  const uint8_t value = data[0];
  const uint8_t sleep_type = (value >> 2) & 0x7;
  if ((value & acpi::kSleepEnable) != 0 && sleep_type == acpi::kSleepTypeS5) power_off_();
}

}  // namespace vmmd
