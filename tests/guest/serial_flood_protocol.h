/* What the serial flood guest writes, shared by the guest and the tests that check it. */
#ifndef VMMD_TESTS_GUEST_SERIAL_FLOOD_PROTOCOL_H_
#define VMMD_TESTS_GUEST_SERIAL_FLOOD_PROTOCOL_H_

/* How many bytes to write: "flood_bytes=N" (decimal) on the kernel command line, rounded up
 * to whole chunks; 100 MiB without it. */
#define SERIAL_FLOOD_ARGUMENT "flood_bytes="
#define SERIAL_FLOOD_DEFAULT_BYTES (100ull << 20)
#define SERIAL_FLOOD_CHUNK 4096u
/* Reported on the test-exit port once every byte is out: "guest exit code 7". */
#define SERIAL_FLOOD_EXIT_CODE 7u
/* Byte i of each 4 KiB chunk: 62 letters then "\r\n", so the console shows 64-byte lines. */
#define SERIAL_FLOOD_PATTERN(i)                    \
  ((i) % 64 == 62   ? '\r'                         \
   : (i) % 64 == 63 ? '\n'                         \
                    : (char)('a' + ((i) / 64 + (i) % 64) % 26))

#endif /* VMMD_TESTS_GUEST_SERIAL_FLOOD_PROTOCOL_H_ */
