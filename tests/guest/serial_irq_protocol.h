/* What the serial interrupt guest writes and how it ends, shared by the guest and its test. */
#ifndef VMMD_TESTS_GUEST_SERIAL_IRQ_PROTOCOL_H_
#define VMMD_TESTS_GUEST_SERIAL_IRQ_PROTOCOL_H_

/* The whole console output: one byte per THR-empty interrupt. */
#define SERIAL_IRQ_MESSAGE "serial irq guest: interrupt-driven transmit ok\r\n"
#define SERIAL_IRQ_MESSAGE_BYTES (sizeof(SERIAL_IRQ_MESSAGE) - 1)
/* Interrupts the guest must take, no more and no fewer: interrupt k (1-based) sends byte k-1,
 * and interrupt BYTES+1, the THR-empty after the last byte, finds nothing to send and clears
 * IER (as Linux's 8250 driver stops transmitting when its buffer is empty). */
#define SERIAL_IRQ_EXPECTED_INTERRUPTS (SERIAL_IRQ_MESSAGE_BYTES + 1)

/* Exit codes on the test-exit port ("guest exit code N", N in decimal). */
#define SERIAL_IRQ_EXIT_OK 0x5eu /* every byte out, exactly the expected interrupts */
/* A vector other than SERIAL_IRQ_VECTOR arrived (an exception, most likely). */
#define SERIAL_IRQ_EXIT_UNEXPECTED_VECTOR 0x5du
/* The message went out, but with the wrong number of interrupts, or with interrupts whose
 * IIR did not report THR empty ("strays"): 0x5f | interrupts << 8 | strays << 16, each
 * count capped at 255. */
#define SERIAL_IRQ_CAP(count) ((count) > 255u ? 255u : (unsigned)(count))
#define SERIAL_IRQ_EXIT_MISCOUNT(interrupts, strays) \
  (0x5fu | SERIAL_IRQ_CAP(interrupts) << 8 | SERIAL_IRQ_CAP(strays) << 16)

/* The IDT vector IOAPIC pin 4 (COM1's IRQ) is routed to. */
#define SERIAL_IRQ_VECTOR 0x24

#endif /* VMMD_TESTS_GUEST_SERIAL_IRQ_PROTOCOL_H_ */
