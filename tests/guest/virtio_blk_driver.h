/* virtio-blk for freestanding test guests, on top of virtio_mmio_driver.h (virtio 1.2 section
 * 5.2): the values the guests use, the request layout, and one request through queue 0 as the
 * chain at descriptor 0, polled. Shared by virtio_blk_guest and virtio_hostile_guest, so that
 * both drive the device with the same requests. */
#ifndef VMMD_TESTS_GUEST_VIRTIO_BLK_DRIVER_H_
#define VMMD_TESTS_GUEST_VIRTIO_BLK_DRIVER_H_

#include "tests/guest/virtio_mmio_driver.h"

/* Feature bit, request types and status values (5.2.3, 5.2.6; <linux/virtio_blk.h>). */
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_CONFIG_CAPACITY 0 /* le64, in sectors (5.2.4) */

/* Request sectors are 512 bytes whatever blk_size says (5.2.4). */
#define VIRTIO_BLK_SECTOR_BYTES 512u

/* One request of up to a sector (5.2.6): the header (device-readable), the data and the
 * status byte (device-writable), each in a descriptor of its own. */
struct virtio_blk_request {
  struct {
    u32 type;
    u32 reserved;
    u64 sector;
  } header;
  u8 data[VIRTIO_BLK_SECTOR_BYTES];
  u8 status;
};

/* Lays `r` out as a `type` request for `sector` in the chain at descriptor 0 of `desc`: the
 * header in descriptor 0; the first `data_length` bytes of r->data in descriptor 1,
 * device-writable when `device_writes` (none when `data_length` is 0); the status byte last,
 * preset to 0xff (no VIRTIO_BLK_S_* value: shows whether the device wrote it). */
static inline void virtio_blk_chain(struct virtq_desc* desc, struct virtio_blk_request* r,
                                    u32 type, u64 sector, u32 data_length, int device_writes) {
  r->header.type = type;
  r->header.reserved = 0;
  r->header.sector = sector;
  r->status = 0xff;
  desc[0].addr = (u64)&r->header;
  desc[0].len = sizeof(r->header);
  desc[0].flags = VIRTQ_DESC_F_NEXT;
  desc[0].next = 1;
  u16 status_desc = 1;
  if (data_length != 0) {
    desc[1].addr = (u64)r->data;
    desc[1].len = data_length;
    desc[1].flags = VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0);
    desc[1].next = 2;
    status_desc = 2;
  }
  desc[status_desc].addr = (u64)&r->status;
  desc[status_desc].len = 1;
  desc[status_desc].flags = VIRTQ_DESC_F_WRITE;
  desc[status_desc].next = 0;
}

/* Not a status byte: the device did not answer; the low bits are virtq_wait's result. */
#define VIRTIO_BLK_NO_ANSWER 0x100u

/* Submits the chain at descriptor 0 and waits for the next used element: the status byte the
 * device wrote in `r`, or VIRTIO_BLK_NO_ANSWER | virtq_wait's result. The element's id and
 * len go to `id` and `used_length`. */
static inline u32 virtio_blk_submit(struct virtio_driver* d, const struct virtio_blk_request* r,
                                    u32* id, u32* used_length) {
  virtq_submit(d, 0);
  const int waited = virtq_wait(d, id, used_length);
  if (waited != VIRTQ_DONE) return VIRTIO_BLK_NO_ANSWER | (u32)waited;
  return *(const volatile u8*)&r->status;
}

#endif /* VMMD_TESTS_GUEST_VIRTIO_BLK_DRIVER_H_ */
