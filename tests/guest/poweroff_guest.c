/* The poweroff guest: says so on COM1, then powers off the way ACPI's hardware-reduced
 * machines do (what Linux's `poweroff` ends in): SLP_TYP of \_S5 with SLP_EN written to the
 * FADT's sleep control register, I/O port 0x600 (boot/acpi/tables.h, devices/acpi_sleep.h). */
#include "tests/guest/guest_io.h"
#include "tests/guest/guest_print.h"

#define SLEEP_CONTROL_PORT 0x600
#define SLP_TYP_S5 5
#define SLP_EN (1 << 5)

void guest_main(u64 boot, u64 entry_rsp) {
  (void)boot;
  (void)entry_rsp;
  put_str("vmmd poweroff guest: powering off\n");
  outb(SLEEP_CONTROL_PORT, (SLP_TYP_S5 << 2) | SLP_EN);
  put_str("still running after poweroff\n");
  for (;;) __asm__ volatile("hlt");
}
