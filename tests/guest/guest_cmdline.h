/* The kernel command line vmmd hands a freestanding test guest: found through the zero page,
 * searched for "key" words (a key matches only at the start of a word). */
#ifndef VMMD_TESTS_GUEST_GUEST_CMDLINE_H_
#define VMMD_TESTS_GUEST_GUEST_CMDLINE_H_

#include "tests/guest/guest_io.h"

/* Zero page offset of hdr.cmd_line_ptr (Documentation/arch/x86/zero-page.rst), and the boot
 * layer's bound on the command line. */
#define GUEST_ZP_CMD_LINE_PTR 0x228
#define GUEST_CMDLINE_MAX 0x10000

/* The address of what follows the next word starting with `key`, searching from offset
 * *from of the command line; *from moves past it, so that calling again finds the next one.
 * 0 when there is none. */
static inline u64 cmdline_find_next(u64 zero_page, const char* key, u32* from) {
  const u64 cmdline = peek32(zero_page + GUEST_ZP_CMD_LINE_PTR);
  for (u32 i = *from; cmdline != 0 && i < GUEST_CMDLINE_MAX && peek8(cmdline + i) != 0; ++i) {
    if (i > 0 && peek8(cmdline + i - 1) != ' ') continue;
    u32 k = 0;
    while (key[k] != 0 && peek8(cmdline + i + k) == (u8)key[k]) ++k;
    if (key[k] != 0) continue;
    *from = i + k;
    return cmdline + i + k;
  }
  return 0;
}

/* Whether the word `word` (exactly, up to a space or the end) is on the command line. */
static inline int cmdline_has(u64 zero_page, const char* word) {
  u32 from = 0;
  for (u64 at; (at = cmdline_find_next(zero_page, word, &from)) != 0;) {
    if (peek8(at) == ' ' || peek8(at) == 0) return 1;
  }
  return 0;
}

#endif /* VMMD_TESTS_GUEST_GUEST_CMDLINE_H_ */
