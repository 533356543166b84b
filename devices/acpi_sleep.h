// The sleep control and status registers of a hardware-reduced ACPI machine (ACPI 6.5,
// 4.8.3.7-8), at the I/O ports the FADT names (boot/acpi/tables.h): a guest powers off by
// writing SLP_TYP (bits 4:2, \_S5's value) with SLP_EN (bit 5) to the control register, and
// the VM stops with reason "guest poweroff". Other sleep types are not offered (the DSDT has
// \_S5 only) and are ignored. The status register reads 0: no wake event is ever pending.
#ifndef VMMD_DEVICES_ACPI_SLEEP_H_
#define VMMD_DEVICES_ACPI_SLEEP_H_

#include <cstdint>
#include <functional>

#include "absl/types/span.h"
#include "boot/layout.h"
#include "devices/port_io_device.h"

namespace vmmd {

class AcpiSleep : public PortIoDevice {
 public:
  static constexpr uint16_t kBase = layout::kAcpiSleepControlPort;
  static constexpr uint16_t kPortCount = 2;
  static_assert(layout::kAcpiSleepStatusPort == kBase + 1, "status follows control");

  // `power_off` is called from the vCPU thread that wrote S5 with SLP_EN.
  explicit AcpiSleep(std::function<void()> power_off) : power_off_(std::move(power_off)) {}

  void Read(uint16_t offset, absl::Span<uint8_t> data) override;
  void Write(uint16_t offset, absl::Span<const uint8_t> data) override;

 private:
  const std::function<void()> power_off_;
};

}  // namespace vmmd

#endif  // VMMD_DEVICES_ACPI_SLEEP_H_
