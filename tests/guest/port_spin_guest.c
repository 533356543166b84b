/* The port spinner: says it is up on COM1, then loops forever on ports no device claims
 * (0x80, the POST diagnostic port, and 0x2e8, COM4): every access is an exit that vmmd
 * answers with all ones and counts in Vm.unhandled_io_count. The VM stays RUNNING. */
#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)zero_page;
  (void)entry_rsp;
  for (const char* p = "port spin guest ready\r\n"; *p; ++p) com1_put_byte((u8)*p);
  for (;;) {
    outb(0x80, 0x55);
    (void)inb(0x2e8);
  }
}
