/* Console output for freestanding test guests: strings and numbers on COM1, polled (LSR.THRE,
 * boot_tables.h). '\n' goes out as "\r\n". Every byte is a port exit or two, so guests keep
 * what they print short. */
#ifndef VMMD_TESTS_GUEST_GUEST_PRINT_H_
#define VMMD_TESTS_GUEST_GUEST_PRINT_H_

#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"

static inline void put_char(char c) {
  if (c == '\n') com1_put_byte('\r');
  com1_put_byte((u8)c);
}

static inline void put_str(const char* s) {
  for (; *s; ++s) put_char(*s);
}

static inline void put_dec(u64 value) {
  char digits[20]; /* 2^64 - 1 has 20 decimal digits */
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) put_char(digits[--n]);
}

/* "0x" and exactly `digits` lower-case hex digits (1 to 16), leading zeros included. */
static inline void put_hex(u64 value, int digits) {
  put_str("0x");
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
    put_char("0123456789abcdef"[(value >> shift) & 0xf]);
  }
}

#endif /* VMMD_TESTS_GUEST_GUEST_PRINT_H_ */
