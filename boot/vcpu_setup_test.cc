// vCPU register values without KVM.
#include "boot/vcpu_setup.h"

#include <cstring>

#include "base/status_matchers.h"
#include "boot/gdt.h"
#include "boot/layout.h"
#include "boot/msrs.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

// dbs-arch test_configure_segments_and_sregs, with the GDT written by WriteBootGdtAndIdt.
TEST(VcpuSetupTest, SeedSegmentsAndSregs) {
  GuestMemory memory = GuestMemory::Create(0x10000).value();
  ASSERT_OK(WriteBootGdtAndIdt(memory));
  kvm_sregs sregs = {};
  SetBootSregs(sregs, GuestAddress(layout::kPml4Start));

  auto read = [&](uint64_t address) { return memory.Read<uint64_t>(GuestAddress(address)).value(); };
  EXPECT_EQ(read(0x500), 0x0u);
  EXPECT_EQ(read(0x508), 0xaf9b000000ffffu);
  EXPECT_EQ(read(0x510), 0xcf93000000ffffu);
  EXPECT_EQ(read(0x518), 0x8f8b000000ffffu);
  EXPECT_EQ(read(0x520), 0x0u);

  EXPECT_EQ(sregs.cs.base, 0u);
  EXPECT_EQ(sregs.ds.limit, 0xfffffu);
  EXPECT_EQ(sregs.es.selector, 0x10);
  EXPECT_EQ(sregs.fs.present, 1);
  EXPECT_EQ(sregs.gs.g, 1);
  EXPECT_EQ(sregs.ss.avl, 0);
  EXPECT_EQ(sregs.tr.base, 0u);
  EXPECT_EQ(sregs.tr.limit, 0xfffffu);
  EXPECT_EQ(sregs.tr.avl, 0);
  EXPECT_TRUE(sregs.cr0 & kCr0Pe);
  EXPECT_TRUE(sregs.efer & kEferLme);
  EXPECT_TRUE(sregs.efer & kEferLma);
}

TEST(VcpuSetupTest, SregsPointAtTheBootTables) {
  kvm_sregs sregs = {};
  sregs.cr4 = 1 << 9;  // existing bits are kept
  SetBootSregs(sregs, GuestAddress(0x9000));
  EXPECT_EQ(sregs.gdt.base, 0x500u);
  EXPECT_EQ(sregs.gdt.limit, 31);
  EXPECT_EQ(sregs.idt.base, 0x520u);
  EXPECT_EQ(sregs.idt.limit, 7);
  EXPECT_EQ(sregs.cr3, 0x9000u);
  EXPECT_TRUE(sregs.cr0 & kCr0Pg);
  EXPECT_TRUE(sregs.cr4 & kCr4Pae);
  EXPECT_TRUE(sregs.cr4 & (1 << 9));
  EXPECT_EQ(sregs.cs.l, 1);
  EXPECT_EQ(sregs.cs.selector, kBootCodeSelector);
  EXPECT_EQ(sregs.ss.selector, kBootDataSelector);
  EXPECT_EQ(sregs.tr.selector, kBootTssSelector);
}

TEST(VcpuSetupTest, RegsFollowTheSixtyFourBitBootProtocol) {
  const kvm_regs regs = BootRegs(GuestAddress(0x1000000), GuestAddress(0x7000), GuestAddress(0x8ff0));
  EXPECT_EQ(regs.rip, 0x1000000u);
  EXPECT_EQ(regs.rsi, 0x7000u);
  EXPECT_EQ(regs.rsp, 0x8ff0u);
  EXPECT_EQ(regs.rbp, 0x8ff0u);
  EXPECT_EQ(regs.rflags, 2u);
  EXPECT_EQ(regs.rax, 0u);
}

TEST(VcpuSetupTest, FpuDefaults) {
  const kvm_fpu fpu = BootFpu();
  EXPECT_EQ(fpu.fcw, 0x37f);
  EXPECT_EQ(fpu.mxcsr, 0x1f80u);
}

TEST(VcpuSetupTest, LapicLintModes) {
  kvm_lapic_state lapic = {};
  const uint32_t masked_fixed = 0x10000 | 0x30;  // masked, vector 0x30: kept
  std::memcpy(lapic.regs + kApicLvtLint0, &masked_fixed, 4);
  std::memcpy(lapic.regs + kApicLvtLint1, &masked_fixed, 4);
  SetBootLapic(lapic);
  uint32_t lint0, lint1;
  std::memcpy(&lint0, lapic.regs + kApicLvtLint0, 4);
  std::memcpy(&lint1, lapic.regs + kApicLvtLint1, 4);
  EXPECT_EQ((lint0 >> 8) & 7, kApicDeliveryModeExtInt);
  EXPECT_EQ((lint1 >> 8) & 7, kApicDeliveryModeNmi);
  EXPECT_EQ(lint0 & ~0x700u, masked_fixed);
}

TEST(VcpuSetupTest, MsrListIsTheSeedsTenPlusMtrrDefType) {
  const auto msrs = BootMsrs();
  ASSERT_EQ(msrs.size(), 11u);
  EXPECT_EQ(msrs[9].index, kMsrIa32MiscEnable);
  EXPECT_EQ(msrs[9].data, kMiscEnableFastString);
  EXPECT_EQ(msrs[10].index, 0x2ffu);
  EXPECT_EQ(msrs[10].data, 0x806u);
}

// PVH entry state (xen/include/public/arch-x86/hvm/start_info.h, "Entry point").
TEST(VcpuSetupTest, PvhRegsCarryTheStartInfoInRbx) {
  const kvm_regs regs = PvhRegs(GuestAddress(0x1000abc), GuestAddress(0x6000));
  EXPECT_EQ(regs.rip, 0x1000abcu);
  EXPECT_EQ(regs.rbx, 0x6000u);
  EXPECT_EQ(regs.rflags, 2u);
  EXPECT_EQ(regs.rsi, 0u);
  EXPECT_EQ(regs.rsp, 0u);
}

TEST(VcpuSetupTest, PvhGdtWords) {
  EXPECT_EQ(kPvhGdt[0], 0u);
  EXPECT_EQ(kPvhGdt[1], 0x00cf9b000000ffffu);
  EXPECT_EQ(kPvhGdt[2], 0x00cf93000000ffffu);
  EXPECT_EQ(kPvhGdt[3], 0x00008b0000000067u);
}

TEST(VcpuSetupTest, PvhSregsAreFlatProtectedModeWithoutPaging) {
  // Start from long-mode state: everything that would keep paging or long mode is cleared.
  kvm_sregs sregs = {};
  SetBootSregs(sregs, GuestAddress(0x9000));
  sregs.cr4 |= 1 << 9;
  SetPvhSregs(sregs);

  EXPECT_EQ(sregs.cr0, kCr0Pe | kCr0Et);
  EXPECT_EQ(sregs.cr0, 0x11u);
  EXPECT_EQ(sregs.cr3, 0u);
  EXPECT_EQ(sregs.cr4, 0u);
  EXPECT_EQ(sregs.efer, 0u);
  EXPECT_EQ(sregs.gdt.base, 0x500u);
  EXPECT_EQ(sregs.gdt.limit, 31);
  EXPECT_EQ(sregs.idt.base, 0x520u);
  EXPECT_EQ(sregs.idt.limit, 7);

  EXPECT_EQ(sregs.cs.selector, 0x8);
  EXPECT_EQ(sregs.cs.base, 0u);
  EXPECT_EQ(sregs.cs.limit, 0xffffffffu);
  EXPECT_EQ(sregs.cs.type, 0xb);  // execute/read, accessed
  EXPECT_EQ(sregs.cs.present, 1);
  EXPECT_EQ(sregs.cs.s, 1);
  EXPECT_EQ(sregs.cs.dpl, 0);
  EXPECT_EQ(sregs.cs.g, 1);
  EXPECT_EQ(sregs.cs.db, 1);
  EXPECT_EQ(sregs.cs.l, 0);
  EXPECT_EQ(sregs.cs.unusable, 0);

  for (const kvm_segment* data : {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss}) {
    EXPECT_EQ(data->selector, 0x10);
    EXPECT_EQ(data->base, 0u);
    EXPECT_EQ(data->limit, 0xffffffffu);
    EXPECT_EQ(data->type, 0x3);  // read/write, accessed
    EXPECT_EQ(data->g, 1);
    EXPECT_EQ(data->db, 1);
    EXPECT_EQ(data->l, 0);
    EXPECT_EQ(data->present, 1);
  }

  EXPECT_EQ(sregs.tr.selector, 0x18);
  EXPECT_EQ(sregs.tr.base, 0u);
  EXPECT_EQ(sregs.tr.limit, 0x67u);
  EXPECT_EQ(sregs.tr.type, 0xb);  // busy 32-bit TSS
  EXPECT_EQ(sregs.tr.s, 0);
  EXPECT_EQ(sregs.tr.g, 0);
  EXPECT_EQ(sregs.tr.present, 1);
}

}  // namespace
}  // namespace vmmd
