// Round trips of every piece of KVM state a snapshot keeps (tag: requires-kvm): a vCPU and
// a VM are given distinctive state, saved, put into a second VM built the same way, saved
// again, and the two saves compared field by field. Only counters of time may differ: they
// run on between the saves.
#include <linux/kvm.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "kvm/vcpu_state.h"
#include "kvm/vm_state.h"

namespace vmmd {
namespace {

// MSRs that count time, which runs on between the two saves:
constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrHvVpRuntime = 0x4000'0010;     // Hyper-V: this vCPU's run time
constexpr uint32_t kMsrHvTimeRefCount = 0x4000'0020;  // Hyper-V: read-only, from kvmclock
// MSRs given values a fresh vCPU does not have (KVM saves all of these).
const std::map<uint32_t, uint64_t> kDistinctiveMsrs = {
    {0x174, 0x10},                       // IA32_SYSENTER_CS
    // 32-bit values: on AMD, KVM keeps SYSENTER_ESP and _EIP's upper halves only for a
    // guest whose CPUID says Intel.
    {0x175, 0x8000'8000},                // IA32_SYSENTER_ESP
    {0x176, 0x8100'9000},                // IA32_SYSENTER_EIP
    {0xc000'0081, 0x0023'0010'0000'0000},  // STAR
    {0xc000'0082, 0xffff'ffff'8100'0000},  // LSTAR
    {0xc000'0084, 0x47700},              // SFMASK
    {0xc000'0102, 0xffff'8880'1234'0000},  // KERNEL_GS_BASE
    {0x277, 0x0007'0406'0007'0406},      // IA32_PAT
};

// The first byte where two plain values differ, or success.
template <typename T>
::testing::AssertionResult SameBytes(const T& saved, const T& restored) {
  const auto* a = reinterpret_cast<const uint8_t*>(&saved);
  const auto* b = reinterpret_cast<const uint8_t*>(&restored);
  for (size_t i = 0; i < sizeof(T); ++i) {
    if (a[i] != b[i]) {
      return ::testing::AssertionFailure()
             << absl::StrFormat("differ at byte %d of %d: saved %#04x, restored %#04x", i,
                                sizeof(T), a[i], b[i]);
    }
  }
  return ::testing::AssertionSuccess();
}

// A VM built as the daemon builds one (TSS, irqchip, PIT, RAM) with one vCPU given the
// host's supported CPUID.
struct TestMachine {
  std::optional<Vm> vm;
  std::shared_ptr<GuestMemory> memory;
  std::unique_ptr<Vcpu> vcpu;
};

class MachineStateTest : public testing::KvmTest {
 protected:
  void Build(TestMachine& machine, bool set_cpuid) {
    ASSERT_OK_AND_ASSIGN(Vm vm, kvm().CreateVm());
    machine.vm.emplace(std::move(vm));
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(2 << 20));
    machine.memory = std::make_shared<GuestMemory>(std::move(memory));
    ASSERT_OK(machine.vm->MapGuestMemory(machine.memory));
    ASSERT_OK(machine.vm->SetTssAddress(GuestAddress(0xfffbd000)));
    ASSERT_OK(machine.vm->CreateIrqchip());
    ASSERT_OK(machine.vm->CreatePit2());
    ASSERT_OK_AND_ASSIGN(machine.vcpu, machine.vm->CreateVcpu(0));
    if (set_cpuid) {
      ASSERT_OK_AND_ASSIGN(std::vector<kvm_cpuid_entry2> cpuid, kvm().GetSupportedCpuid());
      ASSERT_OK(machine.vcpu->SetCpuid2(cpuid));
    }
  }

  // State no fresh vCPU has, in every part SaveVcpuState reads.
  void GiveDistinctiveState(Vcpu& vcpu) {
    kvm_regs regs = {};
    regs.rax = 0x1111'2222'3333'4444;
    regs.rbx = 0x5555;
    regs.r15 = 0xf00d;
    regs.rsp = 0x8000;
    regs.rip = 0x1234;
    regs.rflags = 0x2 | 0x40;  // reserved bit 1, ZF
    ASSERT_OK(vcpu.SetRegs(regs));
    ASSERT_OK_AND_ASSIGN(kvm_sregs sregs, vcpu.GetSregs());
    sregs.cr2 = 0xdead'b000;
    sregs.ds.base = 0x10000;
    sregs.ds.selector = 0x1000;
    ASSERT_OK(vcpu.SetSregs(sregs));
    ASSERT_OK_AND_ASSIGN(kvm_fpu fpu, vcpu.GetFpu());
    for (int i = 0; i < 16; ++i) fpu.xmm[3][i] = static_cast<uint8_t>(0xa0 + i);
    fpu.mxcsr = 0x1f80 | 0x6000;  // round toward zero
    ASSERT_OK(vcpu.SetFpu(fpu));
    kvm_xcrs xcrs = {};
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = 0x3;  // x87 and SSE (the reset value is x87 alone)
    ASSERT_OK(vcpu.SetXcrs(xcrs));
    kvm_debugregs debug = {};
    debug.db[0] = 0x1000;
    debug.db[3] = 0x4000;
    debug.dr6 = 0xffff0ff0;
    debug.dr7 = 0x400 | 0x1;  // L0
    ASSERT_OK(vcpu.SetDebugRegs(debug));
    ASSERT_OK_AND_ASSIGN(kvm_lapic_state lapic, vcpu.GetLapic());
    lapic.regs[0x80] = 0x20;  // TPR
    ASSERT_OK(vcpu.SetLapic(lapic));
    std::vector<kvm_msr_entry> msrs;
    for (const auto& [index, value] : kDistinctiveMsrs) {
      kvm_msr_entry entry = {};
      entry.index = index;
      entry.data = value;
      msrs.push_back(entry);
    }
    ASSERT_OK(vcpu.SetMsrs(msrs));
    // 100 s worth of cycles: a TSC written within a second of the vCPU's creation would be
    // taken by KVM as an attempt to synchronise with it, and not set (kvm_synchronize_tsc).
    ASSERT_OK_AND_ASSIGN(uint32_t tsc_khz, vcpu.GetTscKhz());
    kvm_msr_entry tsc = {};
    tsc.index = kMsrTsc;
    tsc.data = uint64_t{tsc_khz} * 1000 * 100;
    ASSERT_OK(vcpu.SetMsrs({tsc}));
    kvm_mp_state halted = {KVM_MP_STATE_HALTED};
    ASSERT_OK(vcpu.SetMpState(halted));
    ASSERT_OK_AND_ASSIGN(kvm_vcpu_events events, vcpu.GetVcpuEvents());
    events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
    events.nmi.pending = 1;
    ASSERT_OK(vcpu.SetVcpuEvents(events));
  }

  absl::StatusOr<VcpuState> Save(const TestMachine& machine) {
    absl::StatusOr<std::vector<uint32_t>> msr_indices = kvm().GetMsrIndexList();
    if (!msr_indices.ok()) return msr_indices.status();
    absl::StatusOr<size_t> xsave_bytes = machine.vm->XsaveSize();
    if (!xsave_bytes.ok()) return xsave_bytes.status();
    return SaveVcpuState(*machine.vcpu, *msr_indices, *xsave_bytes);
  }
};

TEST_F(MachineStateTest, MsrIndexListNamesTheSyscallMsrs) {
  ASSERT_OK_AND_ASSIGN(std::vector<uint32_t> indices, kvm().GetMsrIndexList());
  EXPECT_GT(indices.size(), 20u);
  EXPECT_THAT(indices, ::testing::IsSupersetOf({0x174u, 0xc0000082u, 0xc0000102u}));
}

TEST_F(MachineStateTest, VcpuStateRoundTripsFieldByField) {
  TestMachine original, restored;
  Build(original, /*set_cpuid=*/true);
  Build(restored, /*set_cpuid=*/false);
  if (HasFatalFailure()) return;
  GiveDistinctiveState(*original.vcpu);
  if (HasFatalFailure()) return;
  ASSERT_OK_AND_ASSIGN(VcpuState saved, Save(original));

  // What was saved is what was given (the save reads, not defaults).
  EXPECT_EQ(saved.regs.rax, 0x1111'2222'3333'4444u);
  EXPECT_EQ(saved.sregs.cr2, 0xdead'b000u);
  EXPECT_EQ(saved.fpu.xmm[3][15], 0xaf);
  EXPECT_EQ(saved.xcrs.xcrs[0].value, 0x3u);
  EXPECT_EQ(saved.debug_regs.db[3], 0x4000u);
  EXPECT_EQ(saved.lapic.regs[0x80], 0x20);
  EXPECT_EQ(saved.mp_state.mp_state, static_cast<uint32_t>(KVM_MP_STATE_HALTED));
  EXPECT_EQ(saved.events.nmi.pending, 1);
  EXPECT_GT(saved.tsc_khz, 0u);
  ASSERT_GE(saved.xsave.size() * 4, 4096u);
  std::map<uint32_t, uint64_t> saved_msrs;
  for (const kvm_msr_entry& entry : saved.msrs) saved_msrs[entry.index] = entry.data;
  for (const auto& [index, value] : kDistinctiveMsrs) {
    EXPECT_EQ(saved_msrs[index], value) << absl::StrFormat("MSR %#x", index);
  }

  ASSERT_LE(saved.cpuid.size(), 256u) << "KVM_MAX_CPUID_ENTRIES";
  ASSERT_OK(RestoreVcpuState(*restored.vcpu, saved));
  ASSERT_OK_AND_ASSIGN(VcpuState again, Save(restored));

  ASSERT_EQ(again.cpuid.size(), saved.cpuid.size());
  for (size_t i = 0; i < saved.cpuid.size(); ++i) {
    EXPECT_TRUE(SameBytes(saved.cpuid[i], again.cpuid[i]))
        << absl::StrFormat("CPUID leaf %#x.%d", saved.cpuid[i].function, saved.cpuid[i].index);
  }
  EXPECT_EQ(again.tsc_khz, saved.tsc_khz);
  EXPECT_TRUE(SameBytes(saved.mp_state, again.mp_state)) << "MP state";
  EXPECT_TRUE(SameBytes(saved.regs, again.regs)) << "registers";
  EXPECT_TRUE(SameBytes(saved.sregs, again.sregs)) << "segment and control registers";
  EXPECT_TRUE(SameBytes(saved.fpu, again.fpu)) << "FPU";
  EXPECT_EQ(again.xsave, saved.xsave) << "XSAVE area";
  EXPECT_TRUE(SameBytes(saved.xcrs, again.xcrs)) << "XCRs";
  EXPECT_TRUE(SameBytes(saved.debug_regs, again.debug_regs)) << "debug registers";
  EXPECT_TRUE(SameBytes(saved.lapic, again.lapic)) << "LAPIC";
  EXPECT_TRUE(SameBytes(saved.events, again.events)) << "pending events";
  ASSERT_EQ(again.msrs.size(), saved.msrs.size());
  for (size_t i = 0; i < saved.msrs.size(); ++i) {
    ASSERT_EQ(again.msrs[i].index, saved.msrs[i].index);
    const uint32_t index = saved.msrs[i].index;
    if (index == kMsrTsc) {
      // Ran on between the two saves, for well under 10 s.
      EXPECT_GE(again.msrs[i].data, saved.msrs[i].data);
      EXPECT_LT(again.msrs[i].data, saved.msrs[i].data + uint64_t{saved.tsc_khz} * 1000 * 10);
      continue;
    }
    if (index == kMsrHvVpRuntime) {
      EXPECT_GE(again.msrs[i].data, saved.msrs[i].data);
      continue;
    }
    if (index == kMsrHvTimeRefCount) continue;  // the VM's clock: VmState's round trip
    EXPECT_EQ(again.msrs[i].data, saved.msrs[i].data)
        << absl::StrFormat("MSR %#x", saved.msrs[i].index);
  }
}

TEST_F(MachineStateTest, VmStateRoundTripsFieldByField) {
  TestMachine original, restored;
  Build(original, /*set_cpuid=*/true);
  Build(restored, /*set_cpuid=*/true);
  if (HasFatalFailure()) return;

  // Interrupt controllers, timer and clock away from their reset values.
  ASSERT_OK_AND_ASSIGN(kvm_irqchip master, original.vm->GetIrqchip(KVM_IRQCHIP_PIC_MASTER));
  master.chip.pic.imr = 0xa5;
  master.chip.pic.irq_base = 0x20;
  ASSERT_OK(original.vm->SetIrqchip(master));
  ASSERT_OK_AND_ASSIGN(kvm_irqchip ioapic, original.vm->GetIrqchip(KVM_IRQCHIP_IOAPIC));
  ioapic.chip.ioapic.redirtbl[5].fields.vector = 0x35;
  ioapic.chip.ioapic.redirtbl[5].fields.mask = 0;
  ioapic.chip.ioapic.redirtbl[5].fields.dest_id = 1;
  ASSERT_OK(original.vm->SetIrqchip(ioapic));
  ASSERT_OK_AND_ASSIGN(kvm_pit_state2 pit, original.vm->GetPit2());
  pit.channels[2].count = 0x1234;
  pit.channels[2].mode = 3;
  ASSERT_OK(original.vm->SetPit2(pit));
  kvm_clock_data clock = {};
  clock.clock = 5'000'000'000;  // 5 s of guest time
  ASSERT_OK(original.vm->SetClock(clock));

  ASSERT_OK_AND_ASSIGN(VmState saved, SaveVmState(*original.vm));
  EXPECT_EQ(saved.pic_master.chip.pic.imr, 0xa5);
  EXPECT_EQ(saved.ioapic.chip.ioapic.redirtbl[5].fields.vector, 0x35);
  EXPECT_EQ(saved.pit.channels[2].count, 0x1234u);
  EXPECT_GE(saved.clock.clock, 5'000'000'000u);

  ASSERT_OK(RestoreVmState(*restored.vm, saved));
  ASSERT_OK_AND_ASSIGN(VmState again, SaveVmState(*restored.vm));
  EXPECT_TRUE(SameBytes(saved.pic_master, again.pic_master)) << "PIC master";
  EXPECT_TRUE(SameBytes(saved.pic_slave, again.pic_slave)) << "PIC slave";
  EXPECT_TRUE(SameBytes(saved.ioapic, again.ioapic)) << "IOAPIC";
  // A channel's count_load_time is the host's clock when it was loaded: the restored VM
  // loaded it now. Everything else is the saved value.
  for (int channel = 0; channel < 3; ++channel) {
    saved.pit.channels[channel].count_load_time = 0;
    again.pit.channels[channel].count_load_time = 0;
  }
  EXPECT_TRUE(SameBytes(saved.pit, again.pit)) << "PIT";
  // The guest's clock resumes where it was saved: not before, and not far after (the time
  // between the restore and the read-back, well under a second even in the test VM).
  EXPECT_GE(again.clock.clock, saved.clock.clock);
  EXPECT_LT(again.clock.clock, saved.clock.clock + 1'000'000'000);
}

}  // namespace
}  // namespace vmmd
