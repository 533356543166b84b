/* How the boot-contract test guest reports what it found, shared by the guest (freestanding
 * C) and the host test (C++).
 *
 * A report is three 32-bit OUTs to kGuestReportPort: the key, then the value's low and high
 * halves. The guest ends with one 32-bit OUT of its exit code to kGuestExitPort (the port
 * QEMU's isa-debug-exit uses). Keys carry an index in their high 16 bits where a check
 * repeats (e820 entries, MP processor entries). */
#ifndef VMMD_TESTS_GUEST_BOOT_CONTRACT_PROTOCOL_H_
#define VMMD_TESTS_GUEST_BOOT_CONTRACT_PROTOCOL_H_

#define kGuestReportPort 0x00f0
#define kGuestExitPort 0x00f4

#define GUEST_KEY(id, index) ((unsigned)(id) | ((unsigned)(index) << 16))
#define GUEST_KEY_ID(key) ((key) & 0xffffu)
#define GUEST_KEY_INDEX(key) ((key) >> 16)

enum GuestKey {
  /* CPU state at entry. */
  kKeyEntryRsi = 1,
  kKeyEntryRsp = 2,
  kKeyCr0 = 3,
  kKeyCr3 = 4,
  kKeyCr4 = 5,
  kKeyEfer = 6,
  kKeyCpuidApicId = 7,     /* CPUID.1:EBX[31:24] */
  kKeyCpuidHypervisor = 8, /* CPUID.1:ECX[31] */
  kKeyLapicId = 9,         /* LAPIC ID register, read through the identity map at 0xfee00020 */
  /* The zero page RSI points at. */
  kKeyZeroPageHeader = 20, /* hdr.header: "HdrS" */
  kKeyZeroPageBootFlag = 21,
  kKeyE820Count = 22,
  kKeyE820Address = 23, /* indexed */
  kKeyE820Size = 24,    /* indexed */
  kKeyE820Type = 25,    /* indexed */
  kKeyCmdlinePointer = 26,
  kKeyCmdlineLength = 27,
  kKeyCmdlineHash = 28, /* FNV-1a 64 of the bytes before the NUL */
  /* The MP table, found as Linux finds it. */
  kKeyMpFloatingPointer = 40, /* address of "_MP_", 0 if not found */
  kKeyMpFloatingChecksumOk = 41,
  kKeyMpTableChecksumOk = 42,
  kKeyMpProcessorCount = 43,
  kKeyMpProcessorApicId = 44, /* indexed */
  kKeyMpBootstrapCount = 45,
  kKeyMpBootstrapApicId = 46,
  kKeyMpIoApicCount = 47,
  kKeyMpIoInterruptCount = 48,
  kKeyMpLocalInterruptCount = 49,
  kKeyMpEntriesParsed = 50, /* 1 when entry_count entries fill base_table_length exactly */
};

#endif /* VMMD_TESTS_GUEST_BOOT_CONTRACT_PROTOCOL_H_ */
