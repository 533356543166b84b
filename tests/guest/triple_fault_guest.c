/* The triple-fault guest: says so on COM1, loads an IDT with limit 0 and executes ud2. The
 * #UD cannot be delivered (vector 6 lies beyond the IDT limit), which raises #GP; that cannot
 * be delivered either, which raises #DF; and a #DF that cannot be delivered is a triple fault
 * (Intel SDM vol. 3, 6.15, "Interrupt 8 - Double Fault Exception"). KVM reports it as
 * KVM_EXIT_SHUTDOWN; vmmd stops the VM with exit reason "triple fault". */
#include "tests/guest/boot_tables.h"
#include "tests/guest/guest_io.h"

struct idt_pointer {
  u16 limit;
  u64 base;
} __attribute__((packed));

void guest_main(u64 zero_page, u64 entry_rsp) {
  (void)zero_page;
  (void)entry_rsp;
  for (const char* p = "triple fault guest: empty IDT, ud2\r\n"; *p; ++p) com1_put_byte((u8)*p);
  static const struct idt_pointer empty = {0, 0};
  __asm__ volatile("lidt %0\n\tud2" : : "m"(empty) : "memory");
  for (;;) __asm__ volatile("hlt"); /* not reached */
}
