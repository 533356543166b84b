/* Entry of the test guests, at their load address (0x100000) in 64-bit mode, as the boot
 * layer leaves a vCPU: RSI = zero page, RSP = boot stack. */
	.section .text.entry, "ax"
	.globl _start
_start:
	mov %rsi, %rdi      /* first argument: the zero page */
	mov %rsp, %rsi      /* second argument: the stack pointer we were given */
	call guest_main
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
