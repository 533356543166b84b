#include "snapshot/kvm_state_proto.h"

#include <cstring>
#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::snapshot {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// `value` filled with bytes that start at `seed` and count up: no two fields alike.
template <typename T>
void Fill(T& value, uint8_t seed) {
  auto* bytes = reinterpret_cast<uint8_t*>(&value);
  for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<uint8_t>(seed + i);
}

template <typename T>
bool SameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

VcpuState SomeVcpuState() {
  VcpuState state;
  state.cpuid.resize(3);
  for (size_t i = 0; i < state.cpuid.size(); ++i) Fill(state.cpuid[i], static_cast<uint8_t>(10 * i));
  state.tsc_khz = 2'100'000;
  state.mp_state.mp_state = KVM_MP_STATE_HALTED;
  Fill(state.regs, 1);
  Fill(state.sregs, 2);
  Fill(state.fpu, 3);
  state.xsave.assign(1024, 0);
  for (size_t i = 0; i < state.xsave.size(); ++i) state.xsave[i] = static_cast<uint32_t>(i * 3);
  Fill(state.xcrs, 4);
  Fill(state.debug_regs, 5);
  Fill(state.lapic, 6);
  state.msrs = {{0x174, 0, 0x10}, {0xc0000082, 0, 0xffffffff81000000}};
  Fill(state.events, 7);
  return state;
}

TEST(KvmStateProtoTest, VcpuStateRoundTripsFieldByField) {
  const VcpuState state = SomeVcpuState();
  ASSERT_OK_AND_ASSIGN(VcpuState back, VcpuStateFromProto(VcpuStateToProto(state), "vcpus[0]"));
  ASSERT_EQ(back.cpuid.size(), state.cpuid.size());
  for (size_t i = 0; i < state.cpuid.size(); ++i) EXPECT_TRUE(SameBytes(back.cpuid[i], state.cpuid[i]));
  EXPECT_EQ(back.tsc_khz, state.tsc_khz);
  EXPECT_EQ(back.mp_state.mp_state, state.mp_state.mp_state);
  EXPECT_TRUE(SameBytes(back.regs, state.regs));
  EXPECT_TRUE(SameBytes(back.sregs, state.sregs));
  EXPECT_TRUE(SameBytes(back.fpu, state.fpu));
  EXPECT_EQ(back.xsave, state.xsave);
  EXPECT_TRUE(SameBytes(back.xcrs, state.xcrs));
  EXPECT_TRUE(SameBytes(back.debug_regs, state.debug_regs));
  EXPECT_TRUE(SameBytes(back.lapic, state.lapic));
  ASSERT_EQ(back.msrs.size(), 2u);
  EXPECT_EQ(back.msrs[1].index, 0xc0000082u);
  EXPECT_EQ(back.msrs[1].data, 0xffffffff81000000u);
  EXPECT_TRUE(SameBytes(back.events, state.events));
}

TEST(KvmStateProtoTest, EachWronglySizedVcpuFieldIsNamed) {
  const v1::KvmVcpuState good = VcpuStateToProto(SomeVcpuState());
  struct Case {
    const char* field;
    void (*spoil)(v1::KvmVcpuState&);
  };
  const Case cases[] = {
      {"vcpus[2].cpuid", [](v1::KvmVcpuState& p) { p.mutable_cpuid()->push_back('x'); }},
      {"vcpus[2].cpuid", [](v1::KvmVcpuState& p) { p.clear_cpuid(); }},
      {"vcpus[2].cpuid", [](v1::KvmVcpuState& p) { p.set_cpuid(std::string(257 * sizeof(kvm_cpuid_entry2), '\0')); }},
      {"vcpus[2].regs", [](v1::KvmVcpuState& p) { p.mutable_regs()->pop_back(); }},
      {"vcpus[2].sregs", [](v1::KvmVcpuState& p) { p.mutable_sregs()->push_back('x'); }},
      {"vcpus[2].fpu", [](v1::KvmVcpuState& p) { p.clear_fpu(); }},
      {"vcpus[2].xsave", [](v1::KvmVcpuState& p) { p.mutable_xsave()->resize(4092); }},
      {"vcpus[2].xsave", [](v1::KvmVcpuState& p) { p.mutable_xsave()->push_back('x'); }},
      {"vcpus[2].xcrs", [](v1::KvmVcpuState& p) { p.mutable_xcrs()->pop_back(); }},
      {"vcpus[2].debug_regs", [](v1::KvmVcpuState& p) { p.mutable_debug_regs()->pop_back(); }},
      {"vcpus[2].lapic", [](v1::KvmVcpuState& p) { p.mutable_lapic()->resize(1023); }},
      {"vcpus[2].events", [](v1::KvmVcpuState& p) { p.clear_events(); }},
  };
  for (const Case& c : cases) {
    v1::KvmVcpuState spoiled = good;
    c.spoil(spoiled);
    EXPECT_THAT(VcpuStateFromProto(spoiled, "vcpus[2]"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)));
  }
}

TEST(KvmStateProtoTest, VmStateRoundTripsAndChecksChipIds) {
  VmState state;
  Fill(state.pic_master, 1);
  state.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  Fill(state.pic_slave, 2);
  state.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  Fill(state.ioapic, 3);
  state.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  Fill(state.pit, 4);
  state.clock.clock = 987654321;
  ASSERT_OK_AND_ASSIGN(VmState back, VmStateFromProto(VmStateToProto(state), "vm"));
  EXPECT_TRUE(SameBytes(back.pic_master, state.pic_master));
  EXPECT_TRUE(SameBytes(back.pic_slave, state.pic_slave));
  EXPECT_TRUE(SameBytes(back.ioapic, state.ioapic));
  EXPECT_TRUE(SameBytes(back.pit, state.pit));
  EXPECT_EQ(back.clock.clock, 987654321u);

  // The slave's bytes where the master's belong.
  v1::KvmVmState swapped = VmStateToProto(state);
  swapped.set_pic_master(swapped.pic_slave());
  EXPECT_THAT(VmStateFromProto(swapped, "vm"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vm.pic_master has chip_id 1")));
  v1::KvmVmState short_pit = VmStateToProto(state);
  short_pit.mutable_pit()->pop_back();
  EXPECT_THAT(VmStateFromProto(short_pit, "vm"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vm.pit")));
}

}  // namespace
}  // namespace vmmd::snapshot
