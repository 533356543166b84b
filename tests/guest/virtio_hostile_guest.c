/* The hostile virtio guest: abuses the first virtio-blk device on its command line (which
 * must be read-only) in the ways a broken or malicious driver would, and checks from the
 * inside that vmmd's virtio-mmio transport contains each one:
 *
 *   - a descriptor chain that loops (0 -> 1 -> 0), a buffer outside guest RAM (in the MMIO
 *     gap), an available idx 1000 entries ahead, a head index beyond the queue size: the
 *     device must set DEVICE_NEEDS_RESET (virtio 1.2 section 2.1.2) with a configuration
 *     change interrupt pending, return nothing in the used ring, and work again after a
 *     reset (Status = 0) and a fresh initialisation;
 *   - a write to the read-only drive: VIRTIO_BLK_S_IOERR, the device stays live;
 *   - a queue that does not exist: QueueNumMax and QueueReady read 0, and a QueueNotify for it
 *     changes nothing;
 *   - register accesses of the wrong width or alignment (4.2.2.2): reads answer 0, writes
 *     change nothing;
 *   - Status bits out of the order of 3.1.1, FEATURES_OK without VIRTIO_F_VERSION_1, a driver
 *     setting DEVICE_NEEDS_RESET itself or clearing bits, queue configuration after
 *     DRIVER_OK: refused, Status reads back unchanged (FEATURES_OK left clear);
 *   - a queue whose descriptor table lies outside guest RAM: QueueReady stays 0.
 *
 * Each observation is a line, "virtio hostile guest:   ok: ..." or "...   UNEXPECTED: ...";
 * the last line is "virtio hostile guest: N unexpected observations", and N is the exit code
 * on the test-exit port. */
#define REPORT_PREFIX "virtio hostile guest: "
#include "tests/guest/guest_report.h"
#include "tests/guest/virtio_blk_driver.h"

#define SECTOR VIRTIO_BLK_SECTOR_BYTES

/* Never guest RAM: inside the MMIO gap, where no device lives (the idle guest probes it). */
#define OUTSIDE_RAM 0xd0000000ull
/* A queue index the device does not have (virtio-blk has one queue). */
#define MISSING_QUEUE 7

static struct virtq queue __attribute__((aligned(4096)));
static struct virtio_blk_request request __attribute__((aligned(64)));

static void set_desc(u16 index, u64 addr, u32 len, u16 flags, u16 next) {
  struct virtq_desc* desc = &queue.desc[index];
  desc->addr = addr;
  desc->len = len;
  desc->flags = flags;
  desc->next = next;
}

/* A well-formed request in descriptors 0, 1 and 2: header, one sector of data (written by
 * the device for T_IN), status. */
static void set_request(u32 type, u64 sector) {
  virtio_blk_chain(queue.desc, &request, type, sector, SECTOR, type == VIRTIO_BLK_T_IN);
}

/* Submits descriptor 0 and waits: the status byte, or VIRTIO_BLK_NO_ANSWER | the wait's
 * result. */
static u32 submit_and_wait(struct virtio_driver* d, u32* used_length) {
  u32 id = 0;
  return virtio_blk_submit(d, &request, &id, used_length);
}

/* A plain read of sector 0: whether it came back OK with the sector and the status byte. */
static int good_read(struct virtio_driver* d) {
  set_request(VIRTIO_BLK_T_IN, 0);
  u32 used = 0;
  return submit_and_wait(d, &used) == VIRTIO_BLK_S_OK && used == SECTOR + 1;
}

/* Reset, initialise again, and read: the device must be as good as new. */
static void recover(struct virtio_driver* d) {
  virtio_set_status(d, 0);
  observe(virtio_status(d) == 0, "Status reads 0 after the reset");
  const char* error = virtio_start(d, VIRTIO_F_VERSION_1);
  observe_no_error(error, "initialised again");
  observe(error == 0 && good_read(d), "a read of sector 0 works again");
}

/* What a broken ring must bring: DEVICE_NEEDS_RESET, a configuration change interrupt,
 * nothing used; then the recovery. */
static void expect_needs_reset(struct virtio_driver* d) {
  const u16 used_before = d->last_used;
  observe(virtio_wait_status(d, VIRTIO_STATUS_NEEDS_RESET), "Status shows DEVICE_NEEDS_RESET");
  observe((mmio_read32(d->base + VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INTERRUPT_CONFIG_CHANGE) != 0,
          "InterruptStatus has the configuration change bit");
  observe(*(volatile u16*)&queue.used.idx == used_before, "nothing came back in the used ring");
  recover(d);
}

static void expect_live(struct virtio_driver* d) {
  observe(virtio_status(d) == VIRTIO_STATUS_LIVE, "Status still reads 0xf (no DEVICE_NEEDS_RESET)");
  observe(good_read(d), "a read of sector 0 works");
}

static void broken_rings(struct virtio_driver* d) {
  begin("a descriptor chain that loops (0 -> 1 -> 0)");
  set_request(VIRTIO_BLK_T_IN, 0);
  set_desc(1, (u64)request.data, SECTOR, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
  virtq_submit(d, 0);
  expect_needs_reset(d);

  begin("a data buffer outside guest RAM (0xd0000000)");
  set_request(VIRTIO_BLK_T_IN, 0);
  set_desc(1, OUTSIDE_RAM, SECTOR, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
  virtq_submit(d, 0);
  expect_needs_reset(d);

  begin("avail idx 1000 entries ahead of the device");
  set_request(VIRTIO_BLK_T_IN, 0);
  queue.avail.ring[0] = 0;
  compiler_barrier();
  *(volatile u16*)&queue.avail.idx = 1000;
  __asm__ volatile("mfence" : : : "memory");
  virtio_notify(d, 0);
  expect_needs_reset(d);

  begin("a head index beyond the queue size (200 of 8)");
  set_request(VIRTIO_BLK_T_IN, 0);
  virtq_submit(d, 200);
  expect_needs_reset(d);
}

static void write_to_read_only(struct virtio_driver* d) {
  begin("a write to the read-only drive");
  set_request(VIRTIO_BLK_T_OUT, 0);
  for (u32 i = 0; i < SECTOR; ++i) request.data[i] = (u8)i;
  u32 used = 0;
  const u32 status = submit_and_wait(d, &used);
  observe(status == VIRTIO_BLK_S_IOERR, "the write came back VIRTIO_BLK_S_IOERR");
  observe(used == 1, "its used length is 1 (the status byte only)");
  expect_live(d);
}

static void missing_queue(struct virtio_driver* d) {
  begin("a queue that does not exist (7)");
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_SEL, MISSING_QUEUE);
  observe(mmio_read32(d->base + VIRTIO_MMIO_QUEUE_NUM_MAX) == 0, "its QueueNumMax reads 0");
  observe(mmio_read32(d->base + VIRTIO_MMIO_QUEUE_READY) == 0, "its QueueReady reads 0");
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_READY, 1);
  observe(mmio_read32(d->base + VIRTIO_MMIO_QUEUE_READY) == 0, "it cannot be made ready");
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_SEL, 0);
  virtio_notify(d, MISSING_QUEUE);
  virtio_notify(d, 0xffffffffu);
  expect_live(d);
}

static void wrong_widths(struct virtio_driver* d) {
  begin("register accesses of the wrong width or alignment");
  const u64 b = d->base;
  observe(peek8(b + VIRTIO_MMIO_MAGIC_VALUE) == 0, "a 1-byte read of MagicValue answers 0");
  observe(peek16(b + VIRTIO_MMIO_VERSION) == 0, "a 2-byte read of Version answers 0");
  observe(peek64(b + VIRTIO_MMIO_MAGIC_VALUE) == 0, "an 8-byte read of MagicValue answers 0");
  observe(peek32(b + VIRTIO_MMIO_MAGIC_VALUE + 2) == 0, "a misaligned 4-byte read answers 0");
  *(volatile u8*)(b + VIRTIO_MMIO_STATUS) = 0; /* a reset, had it been 4 bytes */
  *(volatile u16*)(b + VIRTIO_MMIO_QUEUE_READY) = 0;
  *(volatile u32*)(b + VIRTIO_MMIO_STATUS + 1) = 0;
  observe(mmio_read32(b + VIRTIO_MMIO_QUEUE_READY) == 1,
          "queue 0 is still ready after a 2-byte write of 0 to QueueReady");
  observe(mmio_read32(b + VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC,
          "a 4-byte read of MagicValue still answers \"virt\"");
  expect_live(d);
}

static void status_out_of_order(struct virtio_driver* d) {
  begin("Status bits out of order");
  virtio_set_status(d, 0);
  virtio_set_status(d, VIRTIO_STATUS_DRIVER_OK);
  observe(virtio_status(d) == 0, "DRIVER_OK straight after reset is refused");
  virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FEATURES_OK);
  observe(virtio_status(d) == VIRTIO_STATUS_ACKNOWLEDGE, "FEATURES_OK without DRIVER is refused");
  const u32 driver = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
  virtio_set_status(d, driver);
  virtio_write_driver_features(d, 0);
  virtio_set_status(d, driver | VIRTIO_STATUS_FEATURES_OK);
  observe(virtio_status(d) == driver, "FEATURES_OK without VIRTIO_F_VERSION_1 does not stay set");
  virtio_set_status(d, driver | VIRTIO_STATUS_NEEDS_RESET);
  observe(virtio_status(d) == driver, "the driver cannot set DEVICE_NEEDS_RESET");

  virtio_write_driver_features(d, VIRTIO_F_VERSION_1);
  virtio_set_status(d, driver | VIRTIO_STATUS_FEATURES_OK);
  const char* error = virtio_setup_queue(d);
  virtio_set_status(d, VIRTIO_STATUS_LIVE);
  observe(error == 0 && virtio_status(d) == VIRTIO_STATUS_LIVE, "then the spec's order works");
  virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  observe(virtio_status(d) == VIRTIO_STATUS_LIVE, "clearing bits without a reset is refused");
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_NUM, 4);
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)OUTSIDE_RAM);
  observe(mmio_read32(d->base + VIRTIO_MMIO_QUEUE_READY) == 1,
          "queue configuration after DRIVER_OK is refused (queue 0 still ready)");
  expect_live(d);
}

static void ring_outside_ram(struct virtio_driver* d) {
  begin("a descriptor table outside guest RAM");
  const char* error = virtio_reset(d);
  const u32 driver = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
  virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  virtio_set_status(d, driver);
  virtio_write_driver_features(d, VIRTIO_F_VERSION_1);
  virtio_set_status(d, driver | VIRTIO_STATUS_FEATURES_OK);
  error = error ? error : virtio_setup_queue(d);
  observe(error == 0, "a good queue is set up first");
  /* Take it down (QueueReady 0, allowed at any time) and point it outside RAM. */
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_READY, 0);
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_NUM, VIRTQ_SIZE);
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)OUTSIDE_RAM);
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
  mmio_write32(d->base + VIRTIO_MMIO_QUEUE_READY, 1);
  observe(mmio_read32(d->base + VIRTIO_MMIO_QUEUE_READY) == 0, "QueueReady stays 0");
  recover(d);
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)entry_rsp;
  struct virtio_mmio_device device = {0};
  const int found = virtio_find_device(zero_page, VIRTIO_ID_BLOCK, &device);
  observe(found, "a virtio-blk device is on the command line");
  if (!found) finish();
  struct virtio_driver driver = {0};
  driver.base = device.base;
  driver.queue = &queue;
  const char* error = virtio_start(&driver, VIRTIO_F_VERSION_1);
  observe_no_error(error, "initialised");
  if (error) finish();
  observe((driver.device_features & VIRTIO_BLK_F_RO) != 0, "the drive is read-only");
  observe(good_read(&driver), "a read of sector 0 works");

  broken_rings(&driver);
  write_to_read_only(&driver);
  missing_queue(&driver);
  wrong_widths(&driver);
  status_out_of_order(&driver);
  ring_outside_ram(&driver);
  finish();
}
