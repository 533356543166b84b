/* What the virtio-blk guest reads, writes and prints, shared by the guest and its test
 * (tests/daemon/virtio_guest_test.cc). C and C++. */
#ifndef VMMD_TESTS_GUEST_VIRTIO_BLK_PROTOCOL_H_
#define VMMD_TESTS_GUEST_VIRTIO_BLK_PROTOCOL_H_

/* Every console line starts with this. */
#define VIRTIO_BLK_GUEST_PREFIX "virtio-blk guest: "

/* Request sectors are 512 bytes whatever blk_size says (virtio 1.2 section 5.2.4). */
#define VIRTIO_BLK_GUEST_SECTOR_BYTES 512u

/* The guest reads sector 0 and prints its checksum:
 *   "virtio-blk guest: sector 0 checksum 0x%08x"
 * FNV-1a, 32-bit (offset basis 2166136261, prime 16777619), over the 512 bytes. */
static inline unsigned int virtio_blk_guest_checksum(const unsigned char* bytes,
                                                     unsigned long length) {
  unsigned int hash = 2166136261u;
  for (unsigned long i = 0; i < length; ++i) {
    hash ^= bytes[i];
    hash *= 16777619u;
  }
  return hash;
}

/* The sector the guest writes (read-write drive) or tries to write (read-only drive), then
 * reads back; byte i of what it writes. */
#define VIRTIO_BLK_GUEST_PATTERN_SECTOR 1u
#define VIRTIO_BLK_GUEST_PATTERN(i) ((unsigned char)(0x5a ^ ((i) * 7u + ((i) >> 5))))

/* Requests the guest sends, in order: read sector 0, read the pattern sector (its contents
 * before the write), write it, flush, read it back, GET_ID, read the sector at the capacity
 * (one past the end: IOERR). */
#define VIRTIO_BLK_GUEST_REQUESTS 7u
#define VIRTIO_BLK_GUEST_SECTORS_READ 3u /* those that succeed */

#endif /* VMMD_TESTS_GUEST_VIRTIO_BLK_PROTOCOL_H_ */
