/* What the hostile virtio-net guest and its test (tests/daemon/network_hostile_test.cc) agree
 * on: the modes on the command line, the frames each way, and the lines the guest prints.
 * C and C++. */
#ifndef VMMD_TESTS_GUEST_NET_HOSTILE_PROTOCOL_H_
#define VMMD_TESTS_GUEST_NET_HOSTILE_PROTOCOL_H_

/* Every console line starts with this. */
#define NET_HOSTILE_PREFIX "net hostile guest: "

/* The mode, a word on the command line:
 *  - tx: malformed transmit chains, each followed by a well-formed frame;
 *  - rx: the receive queue is set up but no buffer posted until the test says so through
 *    the drive (below); then buffers, and frames received until a marker frame. */
#define NET_HOSTILE_MODE_TX "net_hostile=tx"
#define NET_HOSTILE_MODE_RX "net_hostile=rx"

/* Frames are NET_HOSTILE_FRAME_BYTES long (no FCS): destination ff:ff:ff:ff:ff:ff, source,
 * EtherType (big-endian), payload. The guest's use IEEE 802's Local Experimental EtherType 1,
 * the test's Local Experimental EtherType 2 (IEEE Std 802 clause 9.2.4), so a packet socket
 * on the tap tells them apart from each other and from anything the kernel sends. */
#define NET_HOSTILE_FRAME_BYTES 64u
#define NET_HOSTILE_GUEST_ETHERTYPE 0x88b5u
#define NET_HOSTILE_HOST_ETHERTYPE 0x88b6u
#define NET_HOSTILE_PAYLOAD_OFFSET 14u

/* tx: the guest's well-formed frames carry this tag, then their sequence number (u32,
 * little-endian), 0 up: one first, then one after each abuse. */
#define NET_HOSTILE_TX_TAG "vmmd-tx!"
#define NET_HOSTILE_TX_TAG_BYTES 8u
#define NET_HOSTILE_VALID_FRAMES 9u
/* Chains the device must drop, count (errors and drops) and return: shorter than the
 * header, a device-writable buffer, longer than the largest packet. */
#define NET_HOSTILE_DROPPED_CHAINS 3u
/* Chains that break the ring (DEVICE_NEEDS_RESET): a loop, a buffer outside RAM, an
 * indirect table of a length that is no multiple of 16, an indirect table inside one, a head
 * beyond the queue size. */
#define NET_HOSTILE_BROKEN_RINGS 5u

/* rx: the test's frames start their payload with a tag byte: flood or marker. */
#define NET_HOSTILE_FLOOD_TAG 'F'
#define NET_HOSTILE_MARKER_TAG 'M'
/* The guest says it is ready (device set up, no receive buffer posted, its memory touched)
 * with this line, then reads sector 0 of its drive until it starts with NET_HOSTILE_GO. */
#define NET_HOSTILE_READY_LINE NET_HOSTILE_PREFIX "ready, no receive buffers" /* then "\r\n" */
#define NET_HOSTILE_GO "GO"
/* Then it prints "received N flood frames and M others before the marker". */

#endif /* VMMD_TESTS_GUEST_NET_HOSTILE_PROTOCOL_H_ */
