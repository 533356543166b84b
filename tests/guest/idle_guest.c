/* The idle test guest: probes an address in the MMIO gap where no device lives (one read,
 * one write: the VMM must answer the read with all ones and count both), says it is up on
 * COM1, then halts with interrupts off. With KVM's in-kernel irqchip a halted vCPU sleeps
 * in the kernel, so the VM stays RUNNING without burning a host CPU; tests pause, resume,
 * stop and delete it. */
#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)zero_page;
  (void)entry_rsp;
  const u64 unbacked = 0xd0000000; /* in the MMIO gap, identity-mapped, no device */
  u32 value = peek32(unbacked);
  *(volatile u32*)unbacked = 0x12345678;
  const char* line = value == 0xffffffffu ? "idle guest ready\r\n" : "idle guest: bad MMIO read\r\n";
  for (const char* p = line; *p; ++p) com1_put_byte((u8)*p);
  for (;;) __asm__ volatile("cli; hlt");
}
