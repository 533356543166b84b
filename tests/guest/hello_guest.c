/* The hello guest: a tiny freestanding ELF that prints what the boot layer told it (vCPUs
 * from the MP table, the e820 map, the command line) on COM1 and resets the machine through
 * the i8042. The daemon's end-to-end test and the README quote its banner, so the lines
 * printed here are an interface: change them only together with those.
 *
 * It reads the memory map and command line from whichever boot protocol entered it: the
 * 64-bit Linux protocol (entry.S, RSI = zero page) or, in the hello_guest_pvh build, PVH
 * (pvh_entry.S, EBX = hvm_start_info); the banner is the same for both.
 *
 * Kept small: guest instructions are slow on nested KVM and every port access is an exit. */
#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"
#include "tests/guest/guest_print.h"

/* Zero page offsets (Documentation/arch/x86/zero-page.rst). */
#define ZP_ACPI_RSDP_ADDR 0x070 /* u64 acpi_rsdp_addr */
#define ZP_E820_ENTRIES 0x1e8 /* u8 e820_entries */
#define ZP_CMD_LINE_PTR 0x228 /* u32 hdr.cmd_line_ptr */
#define ZP_E820_TABLE 0x2d0   /* struct boot_e820_entry e820_table[128] */
#define E820_ENTRY_SIZE 20    /* u64 addr, u64 size, u32 type (packed) */
#define E820_MAX_ENTRIES 128

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h): u32 magic at 0,
 * u32 version, flags, nr_modules, u64 modlist_paddr at 16, u64 cmdline_paddr at 24,
 * u64 rsdp_paddr at 32, u64 memmap_paddr at 40, u32 memmap_entries at 48 (version 1);
 * memory map entries are {u64 addr, u64 size, u32 type, u32 reserved}, the e820 types. */
#define HVM_START_MAGIC 0x336ec578
#define HVM_CMDLINE_PADDR 24
#define HVM_RSDP_PADDR 32
#define HVM_MEMMAP_PADDR 40
#define HVM_MEMMAP_ENTRIES 48
#define HVM_MEMMAP_ENTRY_SIZE 24
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3


/* i8042 command port; command 0xFE pulses the CPU reset line. */
#define I8042_COMMAND 0x64
#define I8042_RESET 0xfe

/* The test-exit port of vmmd's devices (QEMU's isa-debug-exit port). */
#define TEST_EXIT_PORT 0xf4

/* The command line is bounded by the boot layer (64 KiB at most); never run past that. */
#define CMDLINE_MAX 0x10000

/* Processor entries (type 0, 20 bytes) in the MP configuration table (MP spec 1.4, section
 * 4.2: entry_count at offset 34, entries from offset 44; every other entry type is 8 bytes).
 * 0 when there is no MP table. */
static u32 count_processors(void) {
  u64 table = find_mp_table();
  if (table == 0) return 0;
  u16 count = peek16(table + MP_TABLE_ENTRY_COUNT);
  u32 processors = 0;
  u64 p = table + MP_TABLE_ENTRIES;
  for (u16 i = 0; i < count; ++i) {
    if (peek8(p) == 0) {
      ++processors;
      p += 20;
    } else {
      p += 8;
    }
  }
  return processors;
}

/* What the guest was told, from either protocol: the memory map (entries start with u64
 * addr, u64 size, u32 type in both) and the command line. */
struct boot_data {
  u64 map;        /* first entry */
  u32 map_stride; /* bytes per entry */
  u32 map_count;
  u64 cmdline; /* 0: none */
  u64 rsdp;    /* the ACPI root pointer; 0: none */
};

static struct boot_data read_boot_data(u64 boot) {
  struct boot_data data;
  if (peek32(boot) == HVM_START_MAGIC) {
    data.map = peek64(boot + HVM_MEMMAP_PADDR);
    data.map_stride = HVM_MEMMAP_ENTRY_SIZE;
    data.map_count = peek32(boot + HVM_MEMMAP_ENTRIES);
    data.cmdline = peek64(boot + HVM_CMDLINE_PADDR);
    data.rsdp = peek64(boot + HVM_RSDP_PADDR);
  } else {
    data.map = boot + ZP_E820_TABLE;
    data.map_stride = E820_ENTRY_SIZE;
    data.map_count = peek8(boot + ZP_E820_ENTRIES);
    data.cmdline = peek32(boot + ZP_CMD_LINE_PTR);
    data.rsdp = peek64(boot + ZP_ACPI_RSDP_ADDR);
  }
  if (data.map_count > E820_MAX_ENTRIES) data.map_count = E820_MAX_ENTRIES;
  return data;
}

static void print_e820(const struct boot_data* boot) {
  for (u32 i = 0; i < boot->map_count; ++i) {
    u64 entry = boot->map + i * boot->map_stride;
    u64 addr = peek64(entry);
    u64 size = peek64(entry + 8);
    u32 type = peek32(entry + 16);
    put_str("e820: [mem ");
    put_hex(addr, 16);
    put_char('-');
    put_hex(addr + size - 1, 16);
    put_str("] ");
    if (type == E820_RAM) {
      put_str("usable");
    } else if (type == E820_RESERVED) {
      put_str("reserved");
    } else if (type == E820_ACPI) {
      put_str("ACPI data");
    } else {
      put_str("type ");
      put_dec(type);
    }
    put_str("\n");
  }
}

/* boot: the zero page (64-bit entry) or hvm_start_info (PVH entry). */
void guest_main(u64 boot, u64 entry_rsp) {
  (void)entry_rsp;
  const struct boot_data data = read_boot_data(boot);
  put_str("vmmd hello guest\n");

  put_str("vcpus: ");
  put_dec(count_processors());
  put_str("\n");

  u64 memory = 0;
  for (u32 i = 0; i < data.map_count; ++i) memory += peek64(data.map + i * data.map_stride + 8);
  put_str("memory: ");
  put_dec(memory >> 20);
  put_str(" MiB\n");
  print_e820(&data);
  if (data.rsdp != 0) {
    put_str("acpi: RSDP at ");
    put_hex(data.rsdp, 16);
    put_str("\n");
  }

  put_str("cmdline: ");
  u64 cmdline = data.cmdline;
  for (u32 i = 0; cmdline != 0 && i < CMDLINE_MAX; ++i) {
    u8 c = peek8(cmdline + i);
    if (c == 0) break;
    put_char((char)c); /* '\n' as "\r\n" */
  }
  put_str("\n");

  put_str("hello guest done, resetting\n");
  outb(I8042_COMMAND, I8042_RESET);
  /* Not reached on vmmd; elsewhere, report success on the test-exit port and stop. */
  outl(TEST_EXIT_PORT, 0);
  for (;;) __asm__ volatile("hlt");
}
