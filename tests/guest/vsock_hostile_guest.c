/* The hostile virtio-vsock guest: drives the first virtio-vsock device on its command line
 * (rx 0, tx 1; the event queue is left unset) as a malicious driver would, against host
 * listeners that never accept nor read (vsock_hostile_protocol.h):
 *
 *   - credit: it connects to VSOCK_HOSTILE_CREDIT_PORT and sends OP_RW packets without
 *     regard to the credit the device advertises (virtio 1.2 section 5.10.6.3), until the
 *     device resets the connection; the RST must come only once the guest has passed
 *     buf_alloc + fwd_cnt, and soon after;
 *   - flood: it asks for VSOCK_HOSTILE_FLOOD_REQUESTS connections to VSOCK_HOSTILE_FLOOD_PORT,
 *     more than the device allows a VM; each must be answered, RESPONSE up to the bound and
 *     RST beyond it.
 * Then it prints its summary and halts with the connections open, for the test to measure
 * the daemon holding them. It keeps its RX queue supplied throughout (a guest that does not
 * only stalls its own TX queue once RSTs pile up; the device does not grow). */
#define REPORT_PREFIX VSOCK_HOSTILE_PREFIX
#include "tests/guest/vsock_hostile_protocol.h"
#include "tests/guest/guest_report.h"
#include "tests/guest/virtio_mmio_driver.h"

/* struct virtio_vsock_hdr (5.10.6), le fields, packed. */
struct vsock_hdr {
  u64 src_cid;
  u64 dst_cid;
  u32 src_port;
  u32 dst_port;
  u32 len;
  u16 type;
  u16 op;
  u32 flags;
  u32 buf_alloc;
  u32 fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio 1.2 5.10.6: struct virtio_vsock_hdr");

#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1
#define VSOCK_OP_REQUEST 1
#define VSOCK_OP_RESPONSE 2
#define VSOCK_OP_RST 3
#define VSOCK_OP_RW 5
#define VSOCK_CONFIG_GUEST_CID 0     /* le64 guest_cid (5.10.4) */
#define GUEST_BUF_ALLOC (64u * 1024u) /* what this guest advertises; it never reads anyway */
#define RX_BUFFER_BYTES (sizeof(struct vsock_hdr) + 4096u)
#define MAX_CONNECTIONS 1024u /* VsockLimits::max_connections (devices/virtio/vsock) */

static struct virtq rings[2] __attribute__((aligned(4096)));
#define rx_ring rings[0]
#define tx_ring rings[1]
static u8 rx_buffers[VIRTQ_SIZE][RX_BUFFER_BYTES] __attribute__((aligned(4096)));
static struct vsock_hdr tx_header __attribute__((aligned(64)));
static u8 payload[VSOCK_HOSTILE_CHUNK_BYTES] __attribute__((aligned(4096)));

static struct virtio_driver rx, tx;
static struct virtio_driver* const queues[] = {&rx, &tx};
static u64 guest_cid;

/* What the RX queue brought: the credit connection's state, and the answer to the flood's
 * current request. */
static int go_requested, credit_connected, credit_reset;
static u32 device_buf_alloc, device_fwd_cnt, go_host_port;
static u32 awaited_port;
static u16 awaited_op; /* 0 until RESPONSE or RST for awaited_port came */

static void post_rx(u16 index) {
  struct virtq_desc* desc = &rx_ring.desc[index];
  desc->addr = (u64)rx_buffers[index];
  desc->len = RX_BUFFER_BYTES;
  desc->flags = VIRTQ_DESC_F_WRITE;
  desc->next = 0;
  virtq_publish(&rx, index);
}

/* Takes every packet the device has returned on RX, notes what matters, gives the buffers
 * back. */
static void drain_rx(void) {
  int reposted = 0;
  u32 id = 0, len = 0;
  while (virtq_take_used(&rx, &id, &len)) {
    if (id >= VIRTQ_SIZE) {
      observe(0, "an RX used element names a buffer the guest posted");
      finish();
    }
    const volatile struct vsock_hdr* h = (const volatile struct vsock_hdr*)rx_buffers[id];
    const u32 port = h->dst_port;
    const u16 op = h->op;
    if (port == VSOCK_HOSTILE_GO_PORT && op == VSOCK_OP_REQUEST) {
      go_requested = 1;
      go_host_port = h->src_port;
    }
    if (port == VSOCK_HOSTILE_CREDIT_GUEST_PORT) {
      if (op == VSOCK_OP_RESPONSE) credit_connected = 1;
      if (op == VSOCK_OP_RST) {
        credit_reset = 1;
      } else if (!credit_reset) {
        device_buf_alloc = h->buf_alloc;
        device_fwd_cnt = h->fwd_cnt;
      }
    }
    if (port == awaited_port && (op == VSOCK_OP_RESPONSE || op == VSOCK_OP_RST)) awaited_op = op;
    post_rx((u16)id);
    reposted = 1;
  }
  if (reposted) virtio_notify(&rx, 0);
}

/* Sends one packet from guest port `src` to host port `dst` (the chain at descriptor 0,
 * with `len` bytes of `payload` for RW) and waits for TX to return it, serving RX meanwhile.
 * 1 when it came back in time. */
static int send_packet(u16 op, u32 src, u32 dst, u32 len) {
  tx_header.src_cid = guest_cid;
  tx_header.dst_cid = VSOCK_HOST_CID;
  tx_header.src_port = src;
  tx_header.dst_port = dst;
  tx_header.len = len;
  tx_header.type = VSOCK_TYPE_STREAM;
  tx_header.op = op;
  tx_header.flags = 0;
  tx_header.buf_alloc = GUEST_BUF_ALLOC;
  tx_header.fwd_cnt = 0;
  struct virtq_desc* desc = tx_ring.desc;
  desc[0].addr = (u64)&tx_header;
  desc[0].len = sizeof(tx_header);
  desc[0].flags = len != 0 ? VIRTQ_DESC_F_NEXT : 0;
  desc[0].next = 1;
  desc[1].addr = (u64)payload;
  desc[1].len = len;
  desc[1].flags = 0;
  desc[1].next = 0;
  virtq_submit(&tx, 0);
  const u64 deadline = rdtsc() + VIRTIO_WAIT_TICKS;
  u32 id = 0, used = 0;
  while (!virtq_take_used(&tx, &id, &used)) {
    drain_rx();
    if (rdtsc() > deadline) return 0;
    cpu_relax();
  }
  drain_rx();
  return 1;
}

/* Serves RX until `*flag` is set or `ticks` pass; whether it was set. */
static int wait_rx_for(const volatile int* flag, u64 ticks) {
  const u64 deadline = rdtsc() + ticks;
  while (!*flag && rdtsc() < deadline) {
    drain_rx();
    cpu_relax();
  }
  return *flag;
}
static int wait_rx(const volatile int* flag) { return wait_rx_for(flag, VIRTIO_WAIT_TICKS); }

/* The test's go: a host program asking for VSOCK_HOSTILE_GO_PORT, refused. */
static void wait_for_go(void) {
  const int go = wait_rx_for(&go_requested, 1ull << 40); /* minutes */
  observe(go, "the test said go (a REQUEST for the go port)");
  if (!go) finish();
  /* The host side's port is the REQUEST's source: the RST goes back to it. */
  observe(send_packet(VSOCK_OP_RST, VSOCK_HOSTILE_GO_PORT, go_host_port, 0), "refused it (RST)");
}

static void ignore_credit(void) {
  begin("OP_RW past the credit the device gave, to a host that never reads");
  send_packet(VSOCK_OP_REQUEST, VSOCK_HOSTILE_CREDIT_GUEST_PORT, VSOCK_HOSTILE_CREDIT_PORT, 0);
  observe(wait_rx(&credit_connected), "the connection was accepted (RESPONSE)");
  u64 sent = 0;
  while (!credit_reset && sent < VSOCK_HOSTILE_MAX_SEND_BYTES) {
    if (!send_packet(VSOCK_OP_RW, VSOCK_HOSTILE_CREDIT_GUEST_PORT, VSOCK_HOSTILE_CREDIT_PORT,
                     VSOCK_HOSTILE_CHUNK_BYTES)) {
      observe(0, "the device takes TX packets");
      return;
    }
    sent += VSOCK_HOSTILE_CHUNK_BYTES;
  }
  wait_rx(&credit_reset);
  put_str(VSOCK_HOSTILE_PREFIX "credit: reset after ");
  put_dec(sent);
  put_str(" bytes; the device's buf_alloc ");
  put_dec(device_buf_alloc);
  put_str(", fwd_cnt ");
  put_dec(device_fwd_cnt);
  put_str("\n");
  observe(credit_reset, "the device reset the connection (RST)");
  const u64 credit_end = (u64)device_fwd_cnt + device_buf_alloc;
  observe(sent > credit_end, "only once the guest had passed buf_alloc + fwd_cnt");
  observe(sent <= credit_end + 16 * VSOCK_HOSTILE_CHUNK_BYTES,
          "and within 16 packets of passing it");
}

static void connection_flood(void) {
  begin("more connections than the device allows a VM");
  u32 responses = 0, resets = 0;
  for (u32 i = 0; i < VSOCK_HOSTILE_FLOOD_REQUESTS; ++i) {
    awaited_port = VSOCK_HOSTILE_FLOOD_GUEST_PORT + i;
    awaited_op = 0;
    if (!send_packet(VSOCK_OP_REQUEST, awaited_port, VSOCK_HOSTILE_FLOOD_PORT, 0)) break;
    const u64 deadline = rdtsc() + VIRTIO_WAIT_TICKS;
    while (awaited_op == 0 && rdtsc() < deadline) {
      drain_rx();
      cpu_relax();
    }
    if (awaited_op == VSOCK_OP_RESPONSE) ++responses;
    if (awaited_op == VSOCK_OP_RST) ++resets;
    if (awaited_op == 0) break;
  }
  put_str(VSOCK_HOSTILE_PREFIX "flood: ");
  put_dec(responses);
  put_str(" responses, ");
  put_dec(resets);
  put_str(" resets of ");
  put_dec(VSOCK_HOSTILE_FLOOD_REQUESTS);
  put_str(" requests\n");
  observe(responses + resets == VSOCK_HOSTILE_FLOOD_REQUESTS, "every request was answered");
  observe(responses <= MAX_CONNECTIONS, "no more connections than the per-VM bound");
  observe(resets >= VSOCK_HOSTILE_FLOOD_REQUESTS - MAX_CONNECTIONS, "the rest were reset");
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)entry_rsp;
  const char* error = virtio_find_and_start(zero_page, VIRTIO_ID_VSOCK, queues, rings, 2,
                                            VIRTIO_F_VERSION_1);
  observe_no_error(error, "a virtio-vsock device found and initialised (rx 0, tx 1)");
  if (error) finish();
  const u64 config = tx.base + VIRTIO_MMIO_CONFIG + VSOCK_CONFIG_GUEST_CID;
  guest_cid = (u64)mmio_read32(config + 4) << 32 | mmio_read32(config);
  guest_fill(payload, 0x5a, sizeof(payload));
  guest_fill(rx_buffers, 0, sizeof(rx_buffers));
  for (u16 i = 0; i < VIRTQ_SIZE; ++i) post_rx(i);
  virtio_notify(&rx, 0);
  put_str(VSOCK_HOSTILE_READY_LINE "\n");
  wait_for_go();

  ignore_credit();
  connection_flood();
  report_summary();
  put_str(VSOCK_HOSTILE_HOLDING_LINE "\n");
  for (;;) __asm__ volatile("cli; hlt");
}
