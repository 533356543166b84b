/* What the hostile virtio-vsock guest and its test (tests/daemon/network_hostile_test.cc)
 * agree on: the host ports the test listens on, the guest's ports, and what it prints.
 * C and C++. */
#ifndef VMMD_TESTS_GUEST_VSOCK_HOSTILE_PROTOCOL_H_
#define VMMD_TESTS_GUEST_VSOCK_HOSTILE_PROTOCOL_H_

/* Every console line starts with this. */
#define VSOCK_HOSTILE_PREFIX "vsock hostile guest: "

/* The test listens on "<uds_path>_<port>" for both and never accepts nor reads. */
#define VSOCK_HOSTILE_CREDIT_PORT 5000u /* one connection whose guest ignores credit */
#define VSOCK_HOSTILE_FLOOD_PORT 5001u  /* connections past the per-VM bound */

/* After its ready line the guest waits for a host program to ask for this guest port
 * ("CONNECT 7\n" on uds_path): the test's go, once it has measured the daemon. The guest
 * refuses it (RST). */
#define VSOCK_HOSTILE_GO_PORT 7u

/* Guest ports: the credit connection's, and the first of the flood's. */
#define VSOCK_HOSTILE_CREDIT_GUEST_PORT 1000u
#define VSOCK_HOSTILE_FLOOD_GUEST_PORT 20000u
/* Connection requests in the flood: past vmmd's bound (VsockLimits::max_connections,
 * 1024). */
#define VSOCK_HOSTILE_FLOOD_REQUESTS 1100u
/* Bytes per OP_RW packet on the credit connection, and the most the guest sends before it
 * gives up waiting for the RST. */
#define VSOCK_HOSTILE_CHUNK_BYTES 4096u
#define VSOCK_HOSTILE_MAX_SEND_BYTES (16u << 20)

/* Lines, in order:
 *   "vsock hostile guest: ready"
 *   "vsock hostile guest: credit: reset after S bytes; the device's buf_alloc B, fwd_cnt F"
 *   "vsock hostile guest: flood: R responses, T resets of 1100 requests"
 *   "vsock hostile guest: N unexpected observations"
 *   "vsock hostile guest: holding the connections"
 * and then it halts with its connections open (the VM stays RUNNING). */
#define VSOCK_HOSTILE_READY_LINE VSOCK_HOSTILE_PREFIX "ready" /* each then "\r\n" */
#define VSOCK_HOSTILE_HOLDING_LINE VSOCK_HOSTILE_PREFIX "holding the connections"

#endif /* VMMD_TESTS_GUEST_VSOCK_HOSTILE_PROTOCOL_H_ */
