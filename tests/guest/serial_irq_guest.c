/* The serial interrupt guest: sends SERIAL_IRQ_MESSAGE on COM1 the way Linux's 8250 driver
 * transmits, from THR-empty interrupts and never polling LSR. It routes IRQ 4 through the
 * IOAPIC to the BSP's LAPIC (the 8259s masked), sets IER.ETBEI and halts; each interrupt
 * reads IIR and, when it reports THR empty, writes the next byte, so no byte goes out unless
 * an interrupt arrived for it. Once the message is out it checks the interrupt count and
 * reports on the test-exit port (serial_irq_protocol.h). If the interrupts stop, it halts
 * for good and its test times out.
 *
 * Only the BSP runs this; with more vCPUs the APs wait for a SIPI that never comes. */
#include "tests/guest/guest_io.h"
#include "tests/guest/serial_irq_protocol.h"

#define TEST_EXIT_PORT 0xf4

/* The 8259s' interrupt mask registers; KVM emulates both in the kernel. */
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

/* COM1's registers and bits (PC16550D datasheet, "Register Summary"). */
#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_MCR 4
#define UART_IER_THRI 0x02 /* ETBEI */
#define UART_IIR_ID 0x0f
#define UART_IIR_THRI 0x02
#define UART_MCR_OUT2 0x08 /* gates the UART's interrupt onto the bus on a PC */
#define COM1_IRQ 4

/* xAPIC registers at the default base (Intel SDM vol. 3, 10.4.1). */
#define LAPIC_TPR 0xfee00080
#define LAPIC_SVR 0xfee000f0
#define LAPIC_SVR_ENABLE 0x100
#define SPURIOUS_VECTOR 0xff

/* IOAPIC (82093AA datasheet): an index register and a data window; redirection entry n is
 * registers 0x10+2n (vector, mode, polarity, trigger, mask) and 0x11+2n (destination in
 * bits 31:24). All of the mode bits 0: fixed, physical, active high, edge, unmasked. */
#define IOAPIC_REGSEL 0xfec00000
#define IOAPIC_WIN 0xfec00010
#define IOAPIC_REDIRECTION(pin) (0x10 + 2 * (pin))
#define BSP_APIC_ID 0

static inline void poke32(u64 address, u32 value) { *(volatile u32*)address = value; }

/* A 64-bit interrupt gate (Intel SDM vol. 3, 6.14.1). */
struct idt_gate {
  u16 offset_low;
  u16 selector;
  u8 ist;
  u8 type; /* present, DPL 0, type 0xe: 64-bit interrupt gate (clears IF) */
  u16 offset_middle;
  u32 offset_high;
  u32 reserved;
} __attribute__((packed));

struct idt_pointer {
  u16 limit;
  u64 base;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));

static const char message[] = SERIAL_IRQ_MESSAGE;
/* Shared with the interrupt handler. */
static volatile u32 next_byte;  /* index of the next message byte to send */
static volatile u32 interrupts; /* every SERIAL_IRQ_VECTOR taken */
static volatile u32 strays;     /* of those, the ones whose IIR did not say THR empty */
static volatile u32 done;       /* the message is out and IER is clear */

void serial_irq_stub(void);
void unexpected_vector_stub(void);

/* The interrupt entry: the CPU pushed SS, RSP, RFLAGS, CS and RIP on a 16-byte boundary, so
 * after nine more pushes the stack is aligned for the call, as the SysV ABI wants. The
 * handler is C, so only the caller-saved registers need saving (no SSE: -mgeneral-regs-only).
 * EOI after the handler: the THR write inside it raises the next edge, which the LAPIC holds
 * in IRR until this EOI and iretq's restored IF let it in. 0xfee000b0 goes through EAX
 * because a 32-bit displacement would sign-extend it. */
__asm__(
    "	.text\n"
    "	.globl serial_irq_stub\n"
    "serial_irq_stub:\n"
    "	push %rax\n"
    "	push %rcx\n"
    "	push %rdx\n"
    "	push %rsi\n"
    "	push %rdi\n"
    "	push %r8\n"
    "	push %r9\n"
    "	push %r10\n"
    "	push %r11\n"
    "	cld\n"
    "	call serial_irq_handler\n"
    "	mov $0xfee000b0, %eax\n" /* LAPIC EOI */
    "	movl $0, (%rax)\n"
    "	pop %r11\n"
    "	pop %r10\n"
    "	pop %r9\n"
    "	pop %r8\n"
    "	pop %rdi\n"
    "	pop %rsi\n"
    "	pop %rdx\n"
    "	pop %rcx\n"
    "	pop %rax\n"
    "	iretq\n"
    "	.globl unexpected_vector_stub\n"
    "unexpected_vector_stub:\n"
    "	call unexpected_vector\n");

void serial_irq_handler(void) {
  interrupts = interrupts + 1;
  if ((inb(COM1 + UART_IIR) & UART_IIR_ID) != UART_IIR_THRI) {
    strays = strays + 1;
    return;
  }
  if (next_byte < SERIAL_IRQ_MESSAGE_BYTES) {
    outb(COM1 + UART_THR, (u8)message[next_byte]);
    next_byte = next_byte + 1;
  } else {
    /* Nothing left to send: stop the THR-empty interrupts, as the 8250 driver's stop_tx. */
    outb(COM1 + UART_IER, 0);
    done = 1;
  }
}

/* Any other vector (an exception, most likely): a distinct exit beats a triple fault. */
void unexpected_vector(void) {
  outl(TEST_EXIT_PORT, SERIAL_IRQ_EXIT_UNEXPECTED_VECTOR);
  for (;;) __asm__ volatile("cli; hlt");
}

static void set_gate(u32 vector, void (*stub)(void), u16 selector) {
  const u64 offset = (u64)stub;
  struct idt_gate* gate = &idt[vector];
  gate->offset_low = (u16)offset;
  gate->selector = selector;
  gate->ist = 0;
  gate->type = 0x8e;
  gate->offset_middle = (u16)(offset >> 16);
  gate->offset_high = (u32)(offset >> 32);
  gate->reserved = 0;
}

static void load_idt(void) {
  u16 cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  for (u32 vector = 0; vector < 256; ++vector) set_gate(vector, unexpected_vector_stub, cs);
  set_gate(SERIAL_IRQ_VECTOR, serial_irq_stub, cs);
  const struct idt_pointer pointer = {sizeof(idt) - 1, (u64)idt};
  __asm__ volatile("lidt %0" : : "m"(pointer) : "memory");
}

static void write_ioapic(u32 reg, u32 value) {
  poke32(IOAPIC_REGSEL, reg);
  poke32(IOAPIC_WIN, value);
}

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)zero_page;
  (void)entry_rsp;
  /* KVM routes GSI 4 to both the PIC and the IOAPIC; only the IOAPIC path is under test. */
  outb(PIC1_DATA, 0xff);
  outb(PIC2_DATA, 0xff);
  load_idt();

  poke32(LAPIC_SVR, (peek32(LAPIC_SVR) & ~0x1ffu) | LAPIC_SVR_ENABLE | SPURIOUS_VECTOR);
  poke32(LAPIC_TPR, 0);
  /* Destination first, so the entry is complete when the low half unmasks it. */
  write_ioapic(IOAPIC_REDIRECTION(COM1_IRQ) + 1, (u32)BSP_APIC_ID << 24);
  write_ioapic(IOAPIC_REDIRECTION(COM1_IRQ), SERIAL_IRQ_VECTOR);

  next_byte = 0;
  interrupts = 0;
  strays = 0;
  done = 0;
  outb(COM1 + UART_MCR, UART_MCR_OUT2);
  /* THR is empty, so setting ETBEI raises the first interrupt; everything else follows from
   * the handler. sti's one-instruction shadow means no interrupt slips in before hlt. */
  outb(COM1 + UART_IER, UART_IER_THRI);
  while (!done) __asm__ volatile("sti; hlt; cli" : : : "memory");
  /* Let in anything still pending, so that an interrupt after IER went to 0 is counted. */
  __asm__ volatile("sti; nop; cli" : : : "memory");

  if (interrupts == SERIAL_IRQ_EXPECTED_INTERRUPTS && strays == 0) {
    outl(TEST_EXIT_PORT, SERIAL_IRQ_EXIT_OK);
  } else {
    outl(TEST_EXIT_PORT, SERIAL_IRQ_EXIT_MISCOUNT(interrupts, strays));
  }
  for (;;) __asm__ volatile("cli; hlt"); /* not reached on vmmd */
}
