/* The serial flood guest: writes "flood_bytes=N" bytes (from the command line; 100 MiB by
 * default) to COM1's THR as fast as it can, then reports exit code SERIAL_FLOOD_EXIT_CODE on
 * the test-exit port. It never waits for LSR.THRE: a hostile guest does not ask.
 *
 * The bytes leave with `rep outsb` from one page-aligned 4 KiB buffer. KVM does not batch
 * string output: its instruction emulator hands OUTS to the VMM one element per exit
 * (arch/x86/kvm/emulate.c, em_out passes a count of 1; only INS is read ahead), and here
 * kvm_run.io.count was 1 on each of 1,000,000 exits measured. `rep` still saves the guest's
 * loop instructions between exits, which nested KVM emulates slowly.
 *
 * Byte n of the output is SERIAL_FLOOD_PATTERN(n % 4096), so a reader can check any window
 * of the console ring against its offsets. */
#include "tests/guest/guest_io.h"
#include "tests/guest/serial_flood_protocol.h"

#define ZP_CMD_LINE_PTR 0x228 /* u32 hdr.cmd_line_ptr (Documentation/arch/x86/zero-page.rst) */
#define CMDLINE_MAX 0x10000   /* the boot layer's bound on the command line */

static u8 buffer[SERIAL_FLOOD_CHUNK] __attribute__((aligned(4096)));

/* The value of "flood_bytes=" on the command line, or the default. */
static u64 flood_bytes(u64 zero_page) {
  const char* key = SERIAL_FLOOD_ARGUMENT;
  u64 cmdline = peek32(zero_page + ZP_CMD_LINE_PTR);
  for (u32 i = 0; cmdline != 0 && i < CMDLINE_MAX && peek8(cmdline + i) != 0; ++i) {
    if (i > 0 && peek8(cmdline + i - 1) != ' ') continue;
    u32 k = 0;
    while (key[k] != 0 && peek8(cmdline + i + k) == (u8)key[k]) ++k;
    if (key[k] != 0) continue;
    u64 value = 0;
    for (u32 j = i + k; j < CMDLINE_MAX; ++j) {
      u8 c = peek8(cmdline + j);
      if (c < '0' || c > '9') break;
      value = value * 10 + (c - '0');
    }
    return value;
  }
  return SERIAL_FLOOD_DEFAULT_BYTES;
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)entry_rsp;
  const u64 total = flood_bytes(zero_page);
  for (u32 i = 0; i < SERIAL_FLOOD_CHUNK; ++i) buffer[i] = SERIAL_FLOOD_PATTERN(i);
  for (u64 sent = 0; sent < total; sent += SERIAL_FLOOD_CHUNK) {
    const u8* source = buffer;
    u64 count = SERIAL_FLOOD_CHUNK;
    /* DF is clear (the boot layer sets RFLAGS = 2): RSI counts up. */
    __asm__ volatile("rep outsb" : "+S"(source), "+c"(count) : "d"((u16)0x3f8) : "memory");
  }
  outl(0xf4, SERIAL_FLOOD_EXIT_CODE);
  for (;;) __asm__ volatile("cli; hlt"); /* not reached on vmmd */
}
