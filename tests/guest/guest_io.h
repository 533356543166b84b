/* Port I/O and physical-memory access for freestanding test guests. Physical addresses are
 * used directly: the boot layer's identity map covers [0, 4 GiB). */
#ifndef VMMD_TESTS_GUEST_GUEST_IO_H_
#define VMMD_TESTS_GUEST_GUEST_IO_H_

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

static inline void outb(u16 port, u8 value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline void outl(u16 port, u32 value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline u8 peek8(u64 address) { return *(volatile u8*)address; }
static inline u16 peek16(u64 address) { return *(volatile u16*)address; }
static inline u32 peek32(u64 address) { return *(volatile u32*)address; }
static inline u64 peek64(u64 address) { return *(volatile u64*)address; }

static inline u64 read_cr0(void) { u64 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u64 read_cr4(void) { u64 v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline u64 rdmsr(u32 msr) {
  u32 lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((u64)hi << 32) | lo;
}
static inline void cpuid(u32 leaf, u32* eax, u32* ebx, u32* ecx, u32* edx) {
  __asm__ volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx) : "a"(leaf), "c"(0));
}

#endif /* VMMD_TESTS_GUEST_GUEST_IO_H_ */
