/* PVH entry of a test guest (Xen's x86/HVM direct boot ABI, which QEMU, Firecracker, Cloud
 * Hypervisor and vmmd use to enter ELF kernels): the loader finds the 32-bit entry in a
 * XEN_ELFNOTE_PHYS32_ENTRY note and enters it in flat 32-bit protected mode, paging off,
 * interrupts off, EBX = physical address of struct hvm_start_info, with no stack and no page
 * tables (xen/include/public/arch-x86/hvm/start_info.h). This stub brings both (a stack in
 * .bss, identity page tables for the first GiB ready-made in .data), enters long mode and
 * calls guest_main(start_info, 0), like entry.S's 64-bit entry calls guest_main(zero_page,
 * rsp). The ELF's e_entry stays the 64-bit entry at 0x100000.
 *
 * The tables are built by the assembler and linker, not by a loop here: on nested KVM every
 * instruction before paging is on is emulated (a table-building loop cost about 1 ms), so the
 * 32-bit part is kept to a dozen instructions. */

/* ELF note (xen/include/public/elfnote.h): name "Xen", type 18, a 32-bit physical entry. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f               /* namesz: "Xen" and its NUL */
	.long 4f - 3f               /* descsz: 4 */
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.balign 4
3:	.long pvh_start
4:
	/* QEMU 7.2 reads an ELF64 note's descriptor as 8 bytes (read_pvh_start_addr in
	 * hw/i386/x86.c dereferences a size_t). An empty note follows, so the 4 bytes after the
	 * entry are a zero n_namesz and the note list stays well formed. */
	.long 0, 0, 0

/* Control-register and MSR bits (Intel SDM vol. 3A, 2.5 and 2.2.1). */
#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
/* Page-table entry bits: present, writable, and (in a page directory) a 2 MiB page. */
#define PTE_P_RW 0x03
#define PDE_2M_P_RW 0x83
#define GDT_CODE64 0x08
#define GDT_DATA 0x10

	.section .text.pvh, "ax"
	.code32
	.globl pvh_start
pvh_start:
	cli
	mov %ebx, %esi                  /* hvm_start_info, for guest_main */

	/* Long mode: CR4.PAE, CR3, EFER.LME, then CR0.PG (SDM vol. 3A, 10.8.5). */
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $pvh_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0

	lgdt pvh_gdt_descriptor
	ljmp $GDT_CODE64, $pvh_start64

	.code64
pvh_start64:
	mov $GDT_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $pvh_stack_top, %rsp        /* upper halves are undefined after the mode switch */
	mov %esi, %edi                  /* first argument: hvm_start_info (zero-extended) */
	xor %esi, %esi                  /* second argument: no stack was given */
	call guest_main
5:	hlt
	jmp 5b

	.section .rodata
	.balign 8
/* NULL, 64-bit code (L=1, P, DPL 0, execute/read), flat data (G, D/B, P, read/write). */
pvh_gdt:
	.quad 0
	.quad 0x00af9a000000ffff
	.quad 0x00cf92000000ffff
pvh_gdt_end:
pvh_gdt_descriptor:
	.word pvh_gdt_end - pvh_gdt - 1
	.long pvh_gdt

/* Identity map of the first GiB (the guest, its boot data and the MP table all lie there):
 * PML4[0] -> PDPT[0] -> one page directory of 512 2 MiB pages. */
	.section .data
	.balign 4096
pvh_pml4:
	.quad pvh_pdpt + PTE_P_RW
	.fill 511, 8, 0
pvh_pdpt:
	.quad pvh_pd + PTE_P_RW
	.fill 511, 8, 0
pvh_pd:
	.set page, 0
	.rept 512
	.quad (page << 21) | PDE_2M_P_RW
	.set page, page + 1
	.endr

	.section .bss
	.balign 16
pvh_stack:
	.skip 8192
pvh_stack_top:

	.section .note.GNU-stack, "", @progbits
