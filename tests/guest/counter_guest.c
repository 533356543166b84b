/* The counter guest: counts for ever, printing "tick K tsc T" on COM1, with the time stamp
 * counter beside each count, and keeps each count in guest RAM, checking at every tick that
 * the one before is still there. What snapshot tests restore: a restored guest must go on
 * from the count it had (its registers and RAM came back), its TSC never going backwards
 * (the clock came back), and print "memory lost" if its RAM did not come back whole. */
#include "tests/guest/guest_io.h"
#include "tests/guest/guest_print.h"

/* 4096 counts at 32 MiB: beyond the kernel image, within the 64 MiB the tests give. */
#define COUNT_LOG ((volatile u64*)0x2000000)
#define COUNT_LOG_SLOTS 4096
#define GOLDEN 0x9e3779b97f4a7c15ull
/* Spins between ticks: a few ticks a second under nested emulation. */
#define SPIN 200000

static inline u64 rdtsc(void) {
  u32 low, high;
  __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
  return ((u64)high << 32) | low;
}

void guest_main(u64 boot, u64 entry_rsp) {
  (void)boot;
  (void)entry_rsp;
  put_str("vmmd counter guest\n");
  for (u64 count = 1;; ++count) {
    if (count > 1 && COUNT_LOG[(count - 1) % COUNT_LOG_SLOTS] != (count - 1) * GOLDEN) {
      put_str("memory lost at ");
      put_dec(count - 1);
      put_str("\n");
    }
    COUNT_LOG[count % COUNT_LOG_SLOTS] = count * GOLDEN;
    put_str("tick ");
    put_dec(count);
    put_str(" tsc ");
    put_dec(rdtsc());
    put_str("\n");
    for (volatile u32 spin = 0; spin < SPIN; ++spin) __asm__ volatile("pause");
  }
}
