/* A polling virtio-mmio driver for freestanding test guests (virtio 1.2 section 4.2, the
 * version 2 register layout): finds devices through the virtio_mmio.device= entries vmmd
 * appends to the command line (acpi "off") or the LNRO0005 devices of the DSDT the zero page's
 * acpi_rsdp_addr leads to (acpi "on"), initialises one as 3.1.1 and 4.2.3.1 say, sets up its queues
 * (queue 0 alone, or several: virtio_start_queues) as split virtqueues (2.7) of VIRTQ_SIZE
 * entries in the guest's own memory, and submits descriptor chains and polls the used ring
 * for them.
 *
 * No interrupts: the guest runs with IF clear and asks for none (VRING_AVAIL_F_NO_INTERRUPT).
 * The MMIO windows sit at 0xc0000000 and up, in the MMIO gap, which the boot layer's identity
 * map covers ([0, 4 GiB) in 2 MiB pages: boot/page_tables.h), so the registers are touched at
 * their physical addresses, as RAM is.
 *
 * Nothing here prints; the functions that can fail return a string naming what failed, or 0. */
#ifndef VMMD_TESTS_GUEST_VIRTIO_MMIO_DRIVER_H_
#define VMMD_TESTS_GUEST_VIRTIO_MMIO_DRIVER_H_

#include "tests/guest/guest_cmdline.h"
#include "tests/guest/guest_io.h"

/* Register offsets (virtio 1.2 section 4.2.2, "MMIO Device Register Layout"). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt", little-endian */
#define VIRTIO_MMIO_VERSION_2 2      /* virtio 1.x; 1 is the legacy interface */

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128
#define VIRTIO_STATUS_LIVE                                                     \
  (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | \
   VIRTIO_STATUS_DRIVER_OK)

/* InterruptStatus bits (4.2.2). */
#define VIRTIO_INTERRUPT_USED_BUFFER 1
#define VIRTIO_INTERRUPT_CONFIG_CHANGE 2

/* VIRTIO_F_VERSION_1 (6, "Reserved Feature Bits"). */
#define VIRTIO_F_VERSION_1 (1ull << 32)

/* Device IDs (5, "Device Types"). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_VSOCK 19

/* VIRTIO_F_INDIRECT_DESC (6, "Reserved Feature Bits"). */
#define VIRTIO_F_INDIRECT_DESC (1ull << 28)

/* Descriptor and ring flags (2.7.5, 2.7.6). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* The queue size every guest here asks for: QueueNum (a power of two, 2.7). */
#define VIRTQ_SIZE 8

/* The split virtqueue's three areas (2.7, "Split Virtqueues"), laid out with the alignment
 * its table asks: descriptor table 16, available ring 2, used ring 4 bytes. */
struct virtq_desc {
  u64 addr;
  u32 len;
  u16 flags;
  u16 next;
};
struct virtq_avail {
  u16 flags;
  u16 idx;
  u16 ring[VIRTQ_SIZE];
  u16 used_event;
};
struct virtq_used_elem {
  u32 id;
  u32 len;
};
struct virtq_used {
  u16 flags;
  u16 idx;
  struct virtq_used_elem ring[VIRTQ_SIZE];
  u16 avail_event;
};
struct virtq {
  struct virtq_desc desc[VIRTQ_SIZE] __attribute__((aligned(16)));
  struct virtq_avail avail __attribute__((aligned(2)));
  struct virtq_used used __attribute__((aligned(4)));
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtio 1.2 2.7.5: struct virtq_desc");
_Static_assert(sizeof(struct virtq_avail) == 6 + 2 * VIRTQ_SIZE, "2.7.6: struct virtq_avail");
_Static_assert(sizeof(struct virtq_used) == 8 + 8 * VIRTQ_SIZE, "2.7.8: struct virtq_used (padded)");

/* A driver's view of one queue of a device: the device's window and the queue. A device with
 * several queues has one of these per queue, each with the same base. */
struct virtio_driver {
  u64 base;             /* the MMIO window */
  struct virtq* queue;  /* the guest's memory for the queue (identity-mapped: physical address) */
  u64 device_features;  /* what the device offered, read while negotiating */
  u16 next_avail;       /* the avail->idx the driver has published */
  u16 last_used;        /* the used->idx the driver has consumed up to */
  u32 queue_index;      /* which of the device's queues this is (QueueSel); 0 unless set */
};

/* How long to wait for the device: ~2^34 TSC ticks, seconds on any host, so that a device that
 * never answers ends the guest instead of hanging it. */
#define VIRTIO_WAIT_TICKS (1ull << 34)

static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}
static inline void compiler_barrier(void) { __asm__ volatile("" : : : "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" : : : "memory"); }

static inline u32 mmio_read32(u64 address) { return *(volatile u32*)address; }
static inline void mmio_write32(u64 address, u32 value) { *(volatile u32*)address = value; }

/* Fills `length` bytes with `value` through a volatile pointer: no call to a memset the
 * freestanding link does not have. */
static inline void guest_fill(void* memory, u8 value, u64 length) {
  volatile u8* p = (volatile u8*)memory;
  for (u64 i = 0; i < length; ++i) p[i] = value;
}

/* --- Finding devices ---------------------------------------------------------------------- */

struct virtio_mmio_device {
  u64 base;
  u64 size;
  u32 irq;
};

/* Parses "<size>[K|M]@0x<base>:<irq>" (Linux's virtio_mmio.device= syntax,
 * drivers/virtio/virtio_mmio.c) at `p`; 1 and `out` on success. */
static inline int virtio_parse_device(u64 p, struct virtio_mmio_device* out) {
  u64 size = 0, base = 0, irq = 0;
  u32 i = 0;
  for (; peek8(p + i) >= '0' && peek8(p + i) <= '9'; ++i) size = size * 10 + (peek8(p + i) - '0');
  if (i == 0) return 0;
  if (peek8(p + i) == 'K') {
    size <<= 10;
    ++i;
  } else if (peek8(p + i) == 'M') {
    size <<= 20;
    ++i;
  }
  if (peek8(p + i) != '@' || peek8(p + i + 1) != '0' || peek8(p + i + 2) != 'x') return 0;
  i += 3;
  const u32 hex_start = i;
  for (;; ++i) {
    const u8 c = peek8(p + i);
    if (c >= '0' && c <= '9') {
      base = base * 16 + (c - '0');
    } else if (c >= 'a' && c <= 'f') {
      base = base * 16 + (c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      base = base * 16 + (c - 'A' + 10);
    } else {
      break;
    }
  }
  if (i == hex_start || peek8(p + i) != ':') return 0;
  ++i;
  const u32 irq_start = i;
  for (; peek8(p + i) >= '0' && peek8(p + i) <= '9'; ++i) irq = irq * 10 + (peek8(p + i) - '0');
  if (i == irq_start) return 0;
  out->base = base;
  out->size = size;
  out->irq = (u32)irq;
  return 1;
}

/* The `index`-th (from 0) well-formed virtio_mmio.device= entry on the command line the zero
 * page points at; 1 and `out` when there is one. */
static inline int virtio_cmdline_device(u64 zero_page, u32 index, struct virtio_mmio_device* out) {
  u32 from = 0;
  for (u64 at; (at = cmdline_find_next(zero_page, "virtio_mmio.device=", &from)) != 0;) {
    if (!virtio_parse_device(at, out)) continue;
    if (index-- == 0) return 1;
  }
  return 0;
}

/* --- The same from the ACPI tables (boot/acpi/tables.h), as Linux's virtio_mmio finds them:
 * zero page acpi_rsdp_addr -> RSDP -> XSDT -> FACP -> X_DSDT, then in the DSDT's AML each
 * String "LNRO0005" followed by its _CRS: a Memory32Fixed descriptor (0x86, length 9: base at
 * +4, size at +8) and an Extended Interrupt descriptor (0x89: the first GSI at +5). A plain
 * byte scan, which holds for the DSDT vmmd writes (each device's _HID, _UID, _CRS in order),
 * not for AML in general. */
#define ZERO_PAGE_ACPI_RSDP_ADDR 0x070

static inline u64 acpi_find_table(u64 zero_page, u32 signature) {
  const u64 rsdp = peek64(zero_page + ZERO_PAGE_ACPI_RSDP_ADDR);
  if (rsdp == 0 || peek64(rsdp) != 0x2052545020445352ull /* "RSD PTR " */) return 0;
  const u64 xsdt = peek64(rsdp + 24);
  if (xsdt == 0 || peek32(xsdt) != 0x54445358 /* "XSDT" */) return 0;
  const u32 length = peek32(xsdt + 4);
  for (u32 at = 36; at + 8 <= length; at += 8) {
    const u64 table = peek64(xsdt + at);
    if (table != 0 && peek32(table) == signature) return table;
  }
  return 0;
}

static inline int virtio_acpi_device(u64 zero_page, u32 index, struct virtio_mmio_device* out) {
  const u64 fadt = acpi_find_table(zero_page, 0x50434146 /* "FACP" */);
  if (fadt == 0 || peek32(fadt + 4) < 148) return 0;
  const u64 dsdt = peek64(fadt + 140); /* X_DSDT */
  if (dsdt == 0 || peek32(dsdt) != 0x54445344 /* "DSDT" */) return 0;
  static const char kHid[] = "\x0dLNRO0005"; /* a String: 0x0d, the text, NUL */
  const u64 end = dsdt + peek32(dsdt + 4);
  int found = 0;
  for (u64 p = dsdt + 36; p + sizeof(kHid) <= end; ++p) {
    u32 i = 0;
    while (i < sizeof(kHid) && peek8(p + i) == (u8)kHid[i]) ++i; /* the NUL included */
    if (i < sizeof(kHid)) continue;
    found = 0;
    out->base = out->size = 0;
    for (u64 q = p + sizeof(kHid); q + 9 <= end && found < 2; ++q) {
      if (out->size == 0 && peek8(q) == 0x86 && peek8(q + 1) == 9 && peek8(q + 2) == 0) {
        out->base = peek32(q + 4);
        out->size = peek32(q + 8);
        q += 11;
        ++found;
      } else if (out->size != 0 && peek8(q) == 0x89) {
        out->irq = peek32(q + 5);
        ++found;
      }
    }
    if (found == 2 && index-- == 0) return 1;
  }
  return 0;
}

/* The device ID in the window at `base`, or 0 when the window holds no virtio-mmio version 2
 * device (MagicValue and Version, 4.2.3.1.1). */
static inline u32 virtio_identify(u64 base) {
  if (mmio_read32(base + VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC) return 0;
  if (mmio_read32(base + VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_VERSION_2) return 0;
  return mmio_read32(base + VIRTIO_MMIO_DEVICE_ID);
}

/* The first device of type `device_id` (VIRTIO_ID_*) among the command line's entries, then
 * the DSDT's; 1 and `out` when there is one. */
static inline int virtio_find_device(u64 zero_page, u32 device_id, struct virtio_mmio_device* out) {
  for (u32 i = 0; virtio_cmdline_device(zero_page, i, out); ++i) {
    if (virtio_identify(out->base) == device_id) return 1;
  }
  for (u32 i = 0; virtio_acpi_device(zero_page, i, out); ++i) {
    if (virtio_identify(out->base) == device_id) return 1;
  }
  return 0;
}

/* --- Initialisation ----------------------------------------------------------------------- */

static inline u32 virtio_status(const struct virtio_driver* d) {
  return mmio_read32(d->base + VIRTIO_MMIO_STATUS);
}
static inline void virtio_set_status(const struct virtio_driver* d, u32 status) {
  mmio_write32(d->base + VIRTIO_MMIO_STATUS, status);
}

/* Device reset (4.2.3.1: write 0 to Status, then read it back as 0). */
static inline const char* virtio_reset(struct virtio_driver* d) {
  virtio_set_status(d, 0);
  if (virtio_status(d) != 0) return "Status did not read 0 after reset";
  return 0;
}

/* Reads the 64 feature bits the device offers (DeviceFeaturesSel 0 and 1). */
static inline u64 virtio_read_device_features(const struct virtio_driver* d) {
  mmio_write32(d->base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  const u64 low = mmio_read32(d->base + VIRTIO_MMIO_DEVICE_FEATURES);
  mmio_write32(d->base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  const u64 high = mmio_read32(d->base + VIRTIO_MMIO_DEVICE_FEATURES);
  return high << 32 | low;
}

static inline void virtio_write_driver_features(const struct virtio_driver* d, u64 features) {
  mmio_write32(d->base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
  mmio_write32(d->base + VIRTIO_MMIO_DRIVER_FEATURES, (u32)features);
  mmio_write32(d->base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  mmio_write32(d->base + VIRTIO_MMIO_DRIVER_FEATURES, (u32)(features >> 32));
}

/* Queue d->queue_index (4.2.3.2): cleared rings in d->queue, QueueNum VIRTQ_SIZE, the three
 * areas' addresses, QueueReady 1 read back. Only between FEATURES_OK and DRIVER_OK. */
static inline const char* virtio_setup_queue(struct virtio_driver* d) {
  struct virtq* q = d->queue;
  guest_fill(q, 0, sizeof(*q));
  q->avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT; /* we poll */
  d->next_avail = 0;
  d->last_used = 0;
  const u64 b = d->base;
  mmio_write32(b + VIRTIO_MMIO_QUEUE_SEL, d->queue_index);
  if (mmio_read32(b + VIRTIO_MMIO_QUEUE_READY) != 0) return "the queue was ready before setup";
  if (mmio_read32(b + VIRTIO_MMIO_QUEUE_NUM_MAX) < VIRTQ_SIZE) return "QueueNumMax is below 8";
  mmio_write32(b + VIRTIO_MMIO_QUEUE_NUM, VIRTQ_SIZE);
  const u64 desc = (u64)q->desc, avail = (u64)&q->avail, used = (u64)&q->used;
  mmio_write32(b + VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)desc);
  mmio_write32(b + VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(desc >> 32));
  mmio_write32(b + VIRTIO_MMIO_QUEUE_DRIVER_LOW, (u32)avail);
  mmio_write32(b + VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (u32)(avail >> 32));
  mmio_write32(b + VIRTIO_MMIO_QUEUE_DEVICE_LOW, (u32)used);
  mmio_write32(b + VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (u32)(used >> 32));
  mmio_write32(b + VIRTIO_MMIO_QUEUE_READY, 1);
  if (mmio_read32(b + VIRTIO_MMIO_QUEUE_READY) != 1) return "the queue not ready after QueueReady=1";
  return 0;
}

/* The whole of 3.1.1 for a device whose `count` queues are queues[0..count) (one device: the
 * same base in each): reset, ACKNOWLEDGE, DRIVER, read the device's features, accept
 * `accepted` (which must include VIRTIO_F_VERSION_1 and be offered), FEATURES_OK read back,
 * every queue, DRIVER_OK. Each queue's device_features gets what was offered. */
static inline const char* virtio_start_queues(struct virtio_driver* const* queues, u32 count,
                                              u64 accepted) {
  struct virtio_driver* d = queues[0];
  const char* error = virtio_reset(d);
  if (error) return error;
  virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  d->device_features = virtio_read_device_features(d);
  if ((d->device_features & VIRTIO_F_VERSION_1) == 0) return "VIRTIO_F_VERSION_1 not offered";
  if ((accepted & ~d->device_features) != 0) return "a feature to accept was not offered";
  virtio_write_driver_features(d, accepted);
  const u32 features_ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
  virtio_set_status(d, features_ok);
  if (virtio_status(d) != features_ok) return "FEATURES_OK did not stay set";
  for (u32 i = 0; i < count; ++i) {
    queues[i]->device_features = d->device_features;
    error = virtio_setup_queue(queues[i]);
    if (error) return error;
  }
  virtio_set_status(d, VIRTIO_STATUS_LIVE);
  if (virtio_status(d) != VIRTIO_STATUS_LIVE) return "DRIVER_OK did not stay set";
  return 0;
}

/* The first device of type `device_id` on the command line, used through `count` queues:
 * queues[i] gets its window and rings[i] as queue i, and the device is started
 * (virtio_start_queues, accepting `accepted`). An error string, or 0. */
static inline const char* virtio_find_and_start(u64 zero_page, u32 device_id,
                                                struct virtio_driver* const* queues,
                                                struct virtq* rings, u32 count, u64 accepted) {
  struct virtio_mmio_device device = {0};
  if (!virtio_find_device(zero_page, device_id, &device)) return "no such device on the command line";
  for (u32 i = 0; i < count; ++i) {
    queues[i]->base = device.base;
    queues[i]->queue = &rings[i];
    queues[i]->queue_index = i;
  }
  return virtio_start_queues(queues, count, accepted);
}

/* virtio_start_queues for a device used through its queue 0 alone. */
static inline const char* virtio_start(struct virtio_driver* d, u64 accepted) {
  return virtio_start_queues(&d, 1, accepted);
}

/* --- The data path ------------------------------------------------------------------------ */

/* Makes the chain at descriptor `head` available (2.7.13): the ring entry, then idx, then the
 * notification (4.2.3.3: QueueNotify = the queue's index). x86 keeps stores in order; the
 * compiler is told. */
static inline void virtq_publish(struct virtio_driver* d, u16 head) {
  struct virtq* q = d->queue;
  ((volatile u16*)q->avail.ring)[d->next_avail % VIRTQ_SIZE] = head;
  compiler_barrier();
  ++d->next_avail;
  *(volatile u16*)&q->avail.idx = d->next_avail;
  __asm__ volatile("mfence" : : : "memory");
}
static inline void virtio_notify(const struct virtio_driver* d, u32 queue) {
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_NOTIFY, queue);
}
static inline void virtq_submit(struct virtio_driver* d, u16 head) {
  virtq_publish(d, head);
  virtio_notify(d, d->queue_index);
}

/* What virtq_wait found. */
#define VIRTQ_DONE 0        /* a used element came back */
#define VIRTQ_TIMEOUT 1     /* nothing within VIRTIO_WAIT_TICKS */
#define VIRTQ_NEEDS_RESET 2 /* the device set DEVICE_NEEDS_RESET instead */

/* Takes the next used element if the device has returned one: 1, with its id and len in
 * `id` and `len`; 0 when used->idx has not moved. Never waits. */
static inline int virtq_take_used(struct virtio_driver* d, u32* id, u32* len) {
  struct virtq* q = d->queue;
  if (*(volatile u16*)&q->used.idx == d->last_used) return 0;
  compiler_barrier(); /* x86 keeps loads in order: the element after idx (2.7.8.2) */
  const volatile struct virtq_used_elem* e = &q->used.ring[d->last_used % VIRTQ_SIZE];
  *id = e->id;
  *len = e->len;
  ++d->last_used;
  return 1;
}

/* Polls used->idx for the next used element; its id and len go to `id` and `len`. Looks at
 * the Status register now and then (an exit each time) for DEVICE_NEEDS_RESET. */
static inline int virtq_wait(struct virtio_driver* d, u32* id, u32* len) {
  const u64 deadline = rdtsc() + VIRTIO_WAIT_TICKS;
  for (u32 spins = 1;; ++spins) {
    if (virtq_take_used(d, id, len)) return VIRTQ_DONE;
    if (spins % 4096 == 0) {
      if (virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET) return VIRTQ_NEEDS_RESET;
      if (rdtsc() > deadline) return VIRTQ_TIMEOUT;
    }
    cpu_relax();
  }
}

/* Polls Status until `bit` is set: 1 when it is, 0 after VIRTIO_WAIT_TICKS. */
static inline int virtio_wait_status(const struct virtio_driver* d, u32 bit) {
  const u64 deadline = rdtsc() + VIRTIO_WAIT_TICKS;
  while ((virtio_status(d) & bit) == 0) {
    if (rdtsc() > deadline) return 0;
    for (int i = 0; i < 256; ++i) cpu_relax();
  }
  return 1;
}

#endif /* VMMD_TESTS_GUEST_VIRTIO_MMIO_DRIVER_H_ */
