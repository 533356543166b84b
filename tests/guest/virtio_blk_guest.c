/* The virtio-blk guest: drives the first virtio-blk device on its command line itself,
 * through the virtio-mmio version 2 registers (virtio_mmio_driver.h: reset, ACKNOWLEDGE,
 * DRIVER, VIRTIO_F_VERSION_1 and nothing else accepted, FEATURES_OK, queue 0 of 8 entries,
 * DRIVER_OK), with one polled request at a time, and reports on COM1:
 *
 *   virtio-blk guest: device at 0x00000000c0000000 irq 5
 *   virtio-blk guest: capacity 2048 sectors
 *   virtio-blk guest: sector 0 checksum 0x1234abcd     (virtio_blk_protocol.h)
 *   virtio-blk guest: read-only                        (only with VIRTIO_BLK_F_RO)
 *   virtio-blk guest: id <GET_ID's answer>
 *   virtio-blk guest: FAIL: <what>                     (one per failed check)
 *   virtio-blk guest: N checks failed
 *
 * then exits on the test-exit port with N ("guest exit code N"). The requests, in order:
 * read sector 0; read the pattern sector; write the pattern to it; FLUSH; read it back and
 * compare (with the pattern on a read-write drive; with what it held before on a read-only
 * one, where the write must come back VIRTIO_BLK_S_IOERR); GET_ID; read the sector at the
 * capacity, one past the end, which must come back IOERR. The mode comes from the offered
 * VIRTIO_BLK_F_RO bit. */
#include "tests/guest/guest_print.h"
#include "tests/guest/virtio_blk_driver.h"
#include "tests/guest/virtio_blk_protocol.h"

#define TEST_EXIT_PORT 0xf4 /* devices/test_exit.h */
#define SECTOR VIRTIO_BLK_SECTOR_BYTES
_Static_assert(VIRTIO_BLK_GUEST_SECTOR_BYTES == VIRTIO_BLK_SECTOR_BYTES,
               "the test reads the image in the sectors the guest requests");

static struct virtq queue __attribute__((aligned(4096)));
static struct virtio_blk_request request __attribute__((aligned(64)));

static u8 pattern_sector_before[SECTOR];
static u32 failures;

static void fail(const char* what) {
  put_str(VIRTIO_BLK_GUEST_PREFIX "FAIL: ");
  put_str(what);
  put_str("\n");
  ++failures;
}

static void check(int ok, const char* what) {
  if (!ok) fail(what);
}

__attribute__((noreturn)) static void finish(void) {
  put_str(VIRTIO_BLK_GUEST_PREFIX);
  put_dec(failures);
  put_str(" checks failed\n");
  outl(TEST_EXIT_PORT, failures);
  for (;;) __asm__ volatile("cli; hlt"); /* not reached on vmmd */
}

/* Sends one request of `type` for `sector` with `data_length` bytes of request.data (none:
 * a two-descriptor chain), device-writable when `device_writes` and device-readable
 * otherwise, and waits for it. Returns the status byte, or VIRTIO_BLK_NO_ANSWER | the wait's
 * result; the used length goes to `used_length`. */
static u32 blk_request(struct virtio_driver* d, u32 type, u64 sector, u32 data_length,
                       int device_writes, u32* used_length) {
  virtio_blk_chain(d->queue->desc, &request, type, sector, data_length, device_writes);
  u32 id = 0;
  const u32 status = virtio_blk_submit(d, &request, &id, used_length);
  if (status & VIRTIO_BLK_NO_ANSWER) {
    fail(status == (VIRTIO_BLK_NO_ANSWER | VIRTQ_TIMEOUT) ? "no answer from the device"
                                                          : "the device set DEVICE_NEEDS_RESET");
    return status;
  }
  check(id == 0, "the used element names another head than descriptor 0");
  return status;
}

/* Reads one sector into request.data; 1 when it came back VIRTIO_BLK_S_OK with 513 bytes
 * written (the data and the status byte). */
static int read_sector(struct virtio_driver* d, u64 sector) {
  u32 used = 0;
  const u32 status = blk_request(d, VIRTIO_BLK_T_IN, sector, SECTOR, 1, &used);
  return status == VIRTIO_BLK_S_OK && used == SECTOR + 1;
}

/* The device-configuration capacity, read as two 32-bit halves under an unchanged
 * ConfigGeneration (4.2.2, 2.5.1). */
static u64 read_capacity(const struct virtio_driver* d) {
  const u64 config = d->base + VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_CAPACITY;
  for (;;) {
    const u32 generation = mmio_read32(d->base + VIRTIO_MMIO_CONFIG_GENERATION);
    const u64 low = mmio_read32(config);
    const u64 high = mmio_read32(config + 4);
    if (mmio_read32(d->base + VIRTIO_MMIO_CONFIG_GENERATION) == generation) return high << 32 | low;
  }
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)entry_rsp;
  struct virtio_mmio_device device = {0};
  if (!virtio_find_device(zero_page, VIRTIO_ID_BLOCK, &device)) {
    fail("no virtio-blk device among the command line's virtio_mmio.device= entries");
    finish();
  }
  struct virtio_driver driver = {0};
  driver.base = device.base;
  put_str(VIRTIO_BLK_GUEST_PREFIX "device at ");
  put_hex(device.base, 16);
  put_str(" irq ");
  put_dec(device.irq);
  put_str("\n");

  driver.queue = &queue;
  const char* error = virtio_start(&driver, VIRTIO_F_VERSION_1);
  if (error) {
    fail(error);
    finish();
  }
  const int read_only = (driver.device_features & VIRTIO_BLK_F_RO) != 0;

  const u64 capacity = read_capacity(&driver);
  put_str(VIRTIO_BLK_GUEST_PREFIX "capacity ");
  put_dec(capacity);
  put_str(" sectors\n");
  check(capacity > VIRTIO_BLK_GUEST_PATTERN_SECTOR, "the disk is too small for the pattern sector");

  if (read_sector(&driver, 0)) {
    put_str(VIRTIO_BLK_GUEST_PREFIX "sector 0 checksum ");
    put_hex(virtio_blk_guest_checksum(request.data, SECTOR), 8);
    put_str("\n");
  } else {
    fail("reading sector 0");
  }
  if (read_only) put_str(VIRTIO_BLK_GUEST_PREFIX "read-only\n");

  check(read_sector(&driver, VIRTIO_BLK_GUEST_PATTERN_SECTOR), "reading the pattern sector");
  for (u32 i = 0; i < SECTOR; ++i) pattern_sector_before[i] = request.data[i];

  for (u32 i = 0; i < SECTOR; ++i) request.data[i] = VIRTIO_BLK_GUEST_PATTERN(i);
  u32 used = 0;
  u32 status = blk_request(&driver, VIRTIO_BLK_T_OUT, VIRTIO_BLK_GUEST_PATTERN_SECTOR, SECTOR, 0,
                           &used);
  if (read_only) {
    check(status == VIRTIO_BLK_S_IOERR, "a write to the read-only drive did not fail with IOERR");
  } else {
    check(status == VIRTIO_BLK_S_OK, "writing the pattern sector");
  }
  check(used == 1, "a write's used length is not 1 (the status byte)");

  status = blk_request(&driver, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &used);
  check(status == VIRTIO_BLK_S_OK && used == 1, "FLUSH");

  guest_fill(request.data, 0, SECTOR);
  if (read_sector(&driver, VIRTIO_BLK_GUEST_PATTERN_SECTOR)) {
    u32 mismatches = 0;
    for (u32 i = 0; i < SECTOR; ++i) {
      const u8 expected = read_only ? pattern_sector_before[i] : VIRTIO_BLK_GUEST_PATTERN(i);
      if (request.data[i] != expected) ++mismatches;
    }
    check(mismatches == 0, read_only ? "the read-only drive's sector changed"
                                     : "the pattern sector did not read back as written");
  } else {
    fail("reading the pattern sector back");
  }

  guest_fill(request.data, 0, SECTOR);
  status = blk_request(&driver, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, 1, &used);
  if (status == VIRTIO_BLK_S_OK) {
    put_str(VIRTIO_BLK_GUEST_PREFIX "id ");
    for (u32 i = 0; i < VIRTIO_BLK_ID_BYTES && request.data[i] != 0; ++i) {
      const u8 c = request.data[i];
      put_char(c >= 0x20 && c < 0x7f ? (char)c : '?');
    }
    put_str("\n");
    check(used == VIRTIO_BLK_ID_BYTES + 1, "GET_ID's used length is not 21");
  } else {
    fail("GET_ID");
  }

  status = blk_request(&driver, VIRTIO_BLK_T_IN, capacity, SECTOR, 1, &used);
  check(status == VIRTIO_BLK_S_IOERR, "a read past the end did not fail with IOERR");
  check(used == 1, "a failed read's used length is not 1 (the status byte)");

  check(virtio_status(&driver) == VIRTIO_STATUS_LIVE, "Status is no longer 0xf at the end");
  finish();
}
