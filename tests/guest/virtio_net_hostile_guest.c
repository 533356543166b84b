/* The hostile virtio-net guest: drives the first virtio-net device on its command line
 * (receiveq 0, transmitq 1) as a broken or malicious driver would, in one of two modes
 * (net_hostile_protocol.h), and checks from the inside what the device does:
 *
 *   tx: transmit chains shorter than the virtio-net header, with a device-writable buffer,
 *       or longer than the largest packet are dropped and returned (the device stays live);
 *       chains that loop, point outside guest RAM, carry a malformed indirect table (a length
 *       that is no multiple of 16, an indirect descriptor inside one) or start at a head
 *       beyond the queue size set DEVICE_NEEDS_RESET with nothing used, and the device works
 *       after a reset. A well-formed frame follows each abuse, numbered, for the test to read
 *       from the tap: none may be lost.
 *   rx: the receive queue is ready but the guest posts no buffer while the test floods the
 *       tap; it polls sector 0 of its virtio-blk drive meanwhile (its vCPU keeps running),
 *       and when the test writes NET_HOSTILE_GO there, posts buffers and receives until the
 *       test's marker frame.
 *
 * Negotiates VIRTIO_F_VERSION_1 and VIRTIO_F_INDIRECT_DESC only: no mergeable buffers, no
 * offloads, so every packet is a 12-byte virtio_net_hdr_v1 of zeros and a frame. */
#define REPORT_PREFIX NET_HOSTILE_PREFIX
#include "tests/guest/net_hostile_protocol.h"
#include "tests/guest/guest_report.h"
#include "tests/guest/virtio_blk_driver.h"

#define NET_HEADER_BYTES 12u /* struct virtio_net_hdr_v1 (virtio 1.2 section 5.1.6) */
#define NET_CONFIG_MAC 0     /* u8 mac[6] in struct virtio_net_config (5.1.4) */
#define NET_RX_BUFFER_BYTES 2048u
/* The device's largest packet is 65562 bytes (devices/virtio/net/net_header.h): twice that. */
#define NET_HUGE_BYTES (128u * 1024u)
#define OUTSIDE_RAM 0xd0000000ull /* the MMIO gap, where no device lives */

static struct virtq net_rings[2] __attribute__((aligned(4096)));
#define rx_ring net_rings[0]
#define tx_ring net_rings[1]
static struct virtq blk_ring __attribute__((aligned(4096)));
static struct virtq_desc indirect[4] __attribute__((aligned(16)));
static struct virtq_desc nested[2] __attribute__((aligned(16)));
static u8 packet[NET_HEADER_BYTES + NET_HOSTILE_FRAME_BYTES] __attribute__((aligned(64)));
static u8 scratch[NET_HOSTILE_FRAME_BYTES] __attribute__((aligned(64)));
static u8 huge[NET_HUGE_BYTES] __attribute__((aligned(4096)));
static u8 rx_buffers[VIRTQ_SIZE][NET_RX_BUFFER_BYTES] __attribute__((aligned(4096)));
static struct virtio_blk_request blk_request __attribute__((aligned(64)));

static struct virtio_driver rx, tx;
static struct virtio_driver* const net_queues[] = {&rx, &tx};
static u32 next_sequence;

#define NET_FEATURES (VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC)
static const char* start_net(void) { return virtio_start_queues(net_queues, 2, NET_FEATURES); }

static void set_desc(struct virtq_desc* desc, u64 addr, u32 len, u16 flags, u16 next) {
  desc->addr = addr;
  desc->len = len;
  desc->flags = flags;
  desc->next = next;
}

/* The next numbered frame in `packet`, behind a header of zeros. */
static void build_frame(void) {
  guest_fill(packet, 0, sizeof(packet));
  u8* frame = packet + NET_HEADER_BYTES;
  for (u32 i = 0; i < 6; ++i) {
    frame[i] = 0xff;
    frame[6 + i] = peek8(tx.base + VIRTIO_MMIO_CONFIG + NET_CONFIG_MAC + i);
  }
  frame[12] = (u8)(NET_HOSTILE_GUEST_ETHERTYPE >> 8);
  frame[13] = (u8)NET_HOSTILE_GUEST_ETHERTYPE;
  u8* payload = frame + NET_HOSTILE_PAYLOAD_OFFSET;
  const char* tag = NET_HOSTILE_TX_TAG;
  for (u32 i = 0; i < NET_HOSTILE_TX_TAG_BYTES; ++i) payload[i] = (u8)tag[i];
  for (u32 i = 0; i < 4; ++i) payload[NET_HOSTILE_TX_TAG_BYTES + i] = (u8)(next_sequence >> (8 * i));
}

/* Submits the transmit chain at descriptor 0 and waits: virtq_wait's result, the used
 * element's id and len in `id` and `len`. */
static int transmit(u32* id, u32* len) {
  virtq_submit(&tx, 0);
  return virtq_wait(&tx, id, len);
}

/* A well-formed frame, the next in sequence: returned with length 0 (5.1.6.2). */
static void send_valid(void) {
  build_frame();
  set_desc(&tx_ring.desc[0], (u64)packet, sizeof(packet), 0, 0);
  u32 id = 0, len = 0;
  const int waited = transmit(&id, &len);
  observe(waited == VIRTQ_DONE && id == 0 && len == 0,
          "a well-formed frame is taken and returned with length 0");
  ++next_sequence;
}

/* A chain the device must drop and return: used with length 0, Status still live; then a
 * well-formed frame. */
static void expect_dropped(void) {
  u32 id = 0, len = 0;
  const int waited = transmit(&id, &len);
  observe(waited == VIRTQ_DONE && id == 0 && len == 0, "the chain is returned, length 0");
  observe(virtio_status(&tx) == VIRTIO_STATUS_LIVE, "Status still reads 0xf");
  send_valid();
}

/* A chain that breaks the ring: DEVICE_NEEDS_RESET, nothing used; then a reset, a fresh
 * initialisation and a well-formed frame. */
static void expect_needs_reset(void) {
  const u16 used_before = tx.last_used;
  observe(virtio_wait_status(&tx, VIRTIO_STATUS_NEEDS_RESET), "Status shows DEVICE_NEEDS_RESET");
  observe(*(volatile u16*)&tx_ring.used.idx == used_before, "nothing came back in the used ring");
  virtio_set_status(&tx, 0);
  observe(virtio_status(&tx) == 0, "Status reads 0 after the reset");
  observe_no_error(start_net(), "initialised again");
  send_valid();
}

static void malformed_transmit(void) {
  send_valid();

  begin("a transmit chain of 6 bytes, shorter than the 12-byte header");
  build_frame();
  set_desc(&tx_ring.desc[0], (u64)packet, 6, 0, 0);
  expect_dropped();

  begin("a device-writable buffer in a transmit chain");
  build_frame();
  set_desc(&tx_ring.desc[0], (u64)packet, sizeof(packet), VIRTQ_DESC_F_NEXT, 1);
  set_desc(&tx_ring.desc[1], (u64)scratch, sizeof(scratch), VIRTQ_DESC_F_WRITE, 0);
  expect_dropped();

  begin("a transmit chain of 128 KiB, beyond the largest packet (65562 bytes)");
  build_frame();
  set_desc(&tx_ring.desc[0], (u64)packet, sizeof(packet), VIRTQ_DESC_F_NEXT, 1);
  set_desc(&tx_ring.desc[1], (u64)huge, NET_HUGE_BYTES, 0, 0);
  expect_dropped();

  begin("a transmit chain that loops (0 -> 1 -> 0)");
  set_desc(&tx_ring.desc[0], (u64)packet, NET_HEADER_BYTES, VIRTQ_DESC_F_NEXT, 1);
  set_desc(&tx_ring.desc[1], (u64)scratch, sizeof(scratch), VIRTQ_DESC_F_NEXT, 0);
  virtq_submit(&tx, 0);
  expect_needs_reset();

  begin("a transmit buffer outside guest RAM (0xd0000000)");
  set_desc(&tx_ring.desc[0], (u64)packet, NET_HEADER_BYTES, VIRTQ_DESC_F_NEXT, 1);
  set_desc(&tx_ring.desc[1], OUTSIDE_RAM, NET_HOSTILE_FRAME_BYTES, 0, 0);
  virtq_submit(&tx, 0);
  expect_needs_reset();

  begin("an indirect table of 24 bytes (no multiple of 16)");
  build_frame();
  set_desc(&indirect[0], (u64)packet, sizeof(packet), 0, 0);
  set_desc(&tx_ring.desc[0], (u64)indirect, 24, VIRTQ_DESC_F_INDIRECT, 0);
  virtq_submit(&tx, 0);
  expect_needs_reset();

  begin("an indirect descriptor inside an indirect table");
  set_desc(&nested[0], (u64)packet, sizeof(packet), 0, 0);
  set_desc(&indirect[0], (u64)nested, sizeof(nested[0]), VIRTQ_DESC_F_INDIRECT, 0);
  set_desc(&tx_ring.desc[0], (u64)indirect, sizeof(indirect[0]), VIRTQ_DESC_F_INDIRECT, 0);
  virtq_submit(&tx, 0);
  expect_needs_reset();

  begin("a transmit head beyond the queue size (200 of 8)");
  virtq_submit(&tx, 200);
  expect_needs_reset();
}

/* Sector 0 of the drive starts with NET_HOSTILE_GO. */
static int go_given(struct virtio_driver* blk) {
  u32 id = 0, len = 0;
  virtio_blk_chain(blk_ring.desc, &blk_request, VIRTIO_BLK_T_IN, 0, VIRTIO_BLK_SECTOR_BYTES, 1);
  if (virtio_blk_submit(blk, &blk_request, &id, &len) != VIRTIO_BLK_S_OK) return 0;
  const char* go = NET_HOSTILE_GO;
  for (u32 i = 0; go[i] != 0; ++i) {
    if (blk_request.data[i] != (u8)go[i]) return 0;
  }
  return 1;
}

static void post_rx(u16 index) {
  set_desc(&rx_ring.desc[index], (u64)rx_buffers[index], NET_RX_BUFFER_BYTES, VIRTQ_DESC_F_WRITE, 0);
  virtq_publish(&rx, index);
}

static void starved_receive(u64 zero_page) {
  struct virtio_mmio_device device = {0};
  const int found = virtio_find_device(zero_page, VIRTIO_ID_BLOCK, &device);
  observe(found, "a virtio-blk drive for the test's signal is on the command line");
  if (!found) finish();
  struct virtio_driver blk = {0};
  blk.base = device.base;
  blk.queue = &blk_ring;
  observe_no_error(virtio_start(&blk, VIRTIO_F_VERSION_1), "the drive initialised");
  /* Every page the guest will use, touched now: what the daemon holds later is its own. */
  guest_fill(rx_buffers, 0, sizeof(rx_buffers));
  guest_fill(&blk_request, 0, sizeof(blk_request));
  put_str(NET_HOSTILE_READY_LINE "\n");

  const u64 deadline = rdtsc() + (1ull << 40); /* minutes: the test gives the signal */
  u64 polls = 0;
  int go = 0;
  while (!(go = go_given(&blk)) && rdtsc() < deadline) {
    ++polls;
    const u64 pause = rdtsc() + (1ull << 22);
    while (rdtsc() < pause) cpu_relax();
  }
  put_str(NET_HOSTILE_PREFIX "polled the drive ");
  put_dec(polls);
  put_str(" times\n");
  observe(go, "the test said go");
  if (!go) finish();
  observe(*(volatile u16*)&rx_ring.used.idx == 0, "nothing was received without buffers");

  begin("receive buffers at last, after the flood");
  for (u16 i = 0; i < VIRTQ_SIZE; ++i) post_rx(i);
  virtio_notify(&rx, 0);
  u64 flood = 0, others = 0;
  int first_was_flood = -1, lengths_ok = 1;
  for (;;) {
    u32 id = 0, len = 0;
    const int waited = virtq_wait(&rx, &id, &len);
    if (waited != VIRTQ_DONE || id >= VIRTQ_SIZE) {
      observe(0, "a frame came in time, on a buffer the guest posted");
      finish();
    }
    const u8* frame = rx_buffers[id] + NET_HEADER_BYTES;
    const u32 ethertype = (u32)frame[12] << 8 | frame[13];
    const u8 tag = frame[NET_HOSTILE_PAYLOAD_OFFSET];
    const int host = ethertype == NET_HOSTILE_HOST_ETHERTYPE;
    if (host && len != NET_HEADER_BYTES + NET_HOSTILE_FRAME_BYTES) lengths_ok = 0;
    if (first_was_flood < 0) first_was_flood = host && tag == NET_HOSTILE_FLOOD_TAG;
    if (host && tag == NET_HOSTILE_MARKER_TAG) break;
    if (host && tag == NET_HOSTILE_FLOOD_TAG) {
      ++flood;
    } else {
      ++others;
    }
    post_rx((u16)id);
    virtio_notify(&rx, 0);
  }
  put_str(NET_HOSTILE_PREFIX "received ");
  put_dec(flood);
  put_str(" flood frames and ");
  put_dec(others);
  put_str(" others before the marker\n");
  observe(first_was_flood == 1, "the first frame was from the flood (the one the device held)");
  observe(lengths_ok, "every test frame came whole (header and 64 bytes)");
  observe(virtio_status(&rx) == VIRTIO_STATUS_LIVE, "Status still reads 0xf");
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)entry_rsp;
  const char* error = virtio_find_and_start(zero_page, VIRTIO_ID_NET, net_queues, net_rings, 2,
                                            NET_FEATURES);
  observe_no_error(error, "a virtio-net device found and initialised (receiveq 0, transmitq 1)");
  if (error) finish();
  observe((tx.device_features & VIRTIO_F_INDIRECT_DESC) != 0, "indirect descriptors are offered");

  if (cmdline_has(zero_page, NET_HOSTILE_MODE_TX)) {
    malformed_transmit();
  } else if (cmdline_has(zero_page, NET_HOSTILE_MODE_RX)) {
    starved_receive(zero_page);
  } else {
    observe(0, "a mode (" NET_HOSTILE_MODE_TX " or " NET_HOSTILE_MODE_RX ") is on the command line");
  }
  finish();
}
