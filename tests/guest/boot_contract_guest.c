/* The boot-contract test guest: checks, from inside the VM, what the boot layer promised
 * and reports each finding over port I/O (boot_contract_protocol.h). Kept small: guest
 * instructions are slow on nested KVM. */
#include "tests/guest/boot_contract_protocol.h"
#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"

/* Zero page offsets (Documentation/arch/x86/zero-page.rst). */
#define ZP_E820_ENTRIES 0x1e8
#define ZP_BOOT_FLAG 0x1fe
#define ZP_HEADER 0x202
#define ZP_CMD_LINE_PTR 0x228
#define ZP_E820_TABLE 0x2d0
#define E820_ENTRY_SIZE 20

static void report(u32 key, u64 value) {
  outl(kGuestReportPort, key);
  outl(kGuestReportPort, (u32)value);
  outl(kGuestReportPort, (u32)(value >> 32));
}

static u8 checksum(u64 address, u32 length) {
  u8 sum = 0;
  for (u32 i = 0; i < length; ++i) sum += peek8(address + i);
  return sum;
}

static void check_cpu(u64 rsi, u64 rsp) {
  u32 eax, ebx, ecx, edx;
  report(kKeyEntryRsi, rsi);
  report(kKeyEntryRsp, rsp);
  report(kKeyCr0, read_cr0());
  report(kKeyCr3, read_cr3());
  report(kKeyCr4, read_cr4());
  report(kKeyEfer, rdmsr(0xc0000080));
  cpuid(1, &eax, &ebx, &ecx, &edx);
  report(kKeyCpuidApicId, ebx >> 24);
  report(kKeyCpuidHypervisor, ecx >> 31);
  report(kKeyLapicId, peek32(0xfee00020) >> 24);
}

static void check_zero_page(u64 zp) {
  report(kKeyZeroPageHeader, peek32(zp + ZP_HEADER));
  report(kKeyZeroPageBootFlag, peek16(zp + ZP_BOOT_FLAG));
  u32 count = peek8(zp + ZP_E820_ENTRIES);
  report(kKeyE820Count, count);
  for (u32 i = 0; i < count && i < 128; ++i) {
    u64 entry = zp + ZP_E820_TABLE + i * E820_ENTRY_SIZE;
    report(GUEST_KEY(kKeyE820Address, i), peek64(entry));
    report(GUEST_KEY(kKeyE820Size, i), peek64(entry + 8));
    report(GUEST_KEY(kKeyE820Type, i), peek32(entry + 16));
  }
  u64 cmdline = peek32(zp + ZP_CMD_LINE_PTR);
  report(kKeyCmdlinePointer, cmdline);
  u64 hash = 0xcbf29ce484222325ull;
  u32 length = 0;
  for (; length < 0x10000; ++length) {
    u8 c = peek8(cmdline + length);
    if (c == 0) break;
    hash = (hash ^ c) * 0x100000001b3ull;
  }
  report(kKeyCmdlineLength, length);
  report(kKeyCmdlineHash, hash);
}

static void check_mp_table(void) {
  u64 mpf = find_mp_floating_pointer();
  report(kKeyMpFloatingPointer, mpf);
  if (mpf == 0) return;
  report(kKeyMpFloatingChecksumOk, checksum(mpf, 16) == 0);
  u64 table = find_mp_table();
  if (table == 0) return;
  u16 length = peek16(table + MP_TABLE_LENGTH);
  u16 count = peek16(table + MP_TABLE_ENTRY_COUNT);
  report(kKeyMpTableChecksumOk, checksum(table, length) == 0);

  u32 processors = 0, bootstrap = 0, bootstrap_id = 0xff, ioapics = 0, io_ints = 0, local_ints = 0;
  u64 p = table + MP_TABLE_ENTRIES;
  for (u16 i = 0; i < count; ++i) {
    switch (peek8(p)) {
      case 0: /* processor */
        report(GUEST_KEY(kKeyMpProcessorApicId, processors), peek8(p + 1));
        ++processors;
        if (peek8(p + 3) & 2) {
          ++bootstrap;
          bootstrap_id = peek8(p + 1);
        }
        p += 20;
        break;
      case 2: ++ioapics; p += 8; break;
      case 3: ++io_ints; p += 8; break;
      case 4: ++local_ints; p += 8; break;
      default: p += 8; break; /* bus */
    }
  }
  report(kKeyMpProcessorCount, processors);
  report(kKeyMpBootstrapCount, bootstrap);
  report(kKeyMpBootstrapApicId, bootstrap_id);
  report(kKeyMpIoApicCount, ioapics);
  report(kKeyMpIoInterruptCount, io_ints);
  report(kKeyMpLocalInterruptCount, local_ints);
  report(kKeyMpEntriesParsed, p == table + length);
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  check_cpu(zero_page, entry_rsp);
  check_zero_page(zero_page);
  check_mp_table();
  outl(kGuestExitPort, 0);
}
