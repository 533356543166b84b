/* What freestanding test guests read of the boot structures: the MP table, found as the MP
 * spec 1.4 (section 4) says: the floating pointer lies on a 16-byte boundary in the first KiB
 * of the EBDA, the last KiB of base memory, or the BIOS ROM at 0xf0000-0xfffff. */
#ifndef VMMD_TESTS_GUEST_BOOT_TABLES_H_
#define VMMD_TESTS_GUEST_BOOT_TABLES_H_

#include "tests/guest/guest_io.h"

#define MP_FLOATING_SIGNATURE 0x5f504d5f /* "_MP_" */
#define MP_TABLE_SIGNATURE 0x504d4350    /* "PCMP" */
/* Configuration table header (section 4.2): base length at 4, entry count at 34, entries
 * from 44. Processor entries are 20 bytes, every other type 8. */
#define MP_TABLE_LENGTH 4
#define MP_TABLE_ENTRY_COUNT 34
#define MP_TABLE_ENTRIES 44

/* The floating pointer's address, or 0 when there is none. */
static inline u64 find_mp_floating_pointer(void) {
  static const u64 areas[][2] = {{0x9fc00, 0xa0000}, {0xf0000, 0x100000}};
  for (u32 a = 0; a < 2; ++a) {
    for (u64 p = areas[a][0]; p < areas[a][1]; p += 16) {
      if (peek32(p) == MP_FLOATING_SIGNATURE) return p;
    }
  }
  return 0;
}

/* The configuration table the floating pointer points at, or 0 when it is not there. */
static inline u64 find_mp_table(void) {
  u64 mpf = find_mp_floating_pointer();
  if (mpf == 0) return 0;
  u64 table = peek32(mpf + 4);
  return table != 0 && peek32(table) == MP_TABLE_SIGNATURE ? table : 0;
}

/* COM1's transmitter: waits for LSR.THRE (16550 datasheet, bit 5), then writes the byte. */
static inline void com1_put_byte(u8 byte) {
  while ((inb(0x3fd) & 0x20) == 0) {
  }
  outb(0x3f8, byte);
}

#endif /* VMMD_TESTS_GUEST_BOOT_TABLES_H_ */
