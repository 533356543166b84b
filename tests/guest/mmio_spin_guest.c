/* The MMIO spinner: says it is up on COM1, then reads and writes an address in the MMIO gap
 * where no device lives (0xd0000000, identity-mapped by the boot layer) forever. Each access
 * exits to vmmd, which answers reads with all ones and counts both in
 * Vm.unhandled_mmio_count. The VM stays RUNNING. */
#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)zero_page;
  (void)entry_rsp;
  for (const char* p = "mmio spin guest ready\r\n"; *p; ++p) com1_put_byte((u8)*p);
  volatile u32* unbacked = (volatile u32*)0xd0000000;
  for (;;) *unbacked = *unbacked + 1;
}
