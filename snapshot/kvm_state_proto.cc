#include "snapshot/kvm_state_proto.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace vmmd::snapshot {
namespace {

// KVM_MAX_CPUID_ENTRIES: what KVM_SET_CPUID2 takes at most.
constexpr size_t kMaxCpuidEntries = 256;
// struct kvm_xsave: the legacy area and header, the least KVM_SET_XSAVE reads.
constexpr size_t kMinXsaveBytes = 4096;

template <typename T>
std::string Bytes(const T& value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
std::string ArrayBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// `bytes` as a T, if it is exactly sizeof(T) long.
template <typename T>
absl::Status FromBytes(const std::string& bytes, absl::string_view where, absl::string_view field,
                       absl::string_view type, T& out) {
  if (bytes.size() != sizeof(T)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s.%s is %d bytes; %s is %d", where, field,
                                                      bytes.size(), type, sizeof(T)));
  }
  std::memcpy(&out, bytes.data(), sizeof(T));
  return absl::OkStatus();
}

// `bytes` as whole Ts, at least `min_count` and at most `max_count` of them.
template <typename T>
absl::Status ArrayFromBytes(const std::string& bytes, absl::string_view where,
                            absl::string_view field, absl::string_view unit, size_t min_count,
                            size_t max_count, std::vector<T>& out) {
  if (bytes.size() % sizeof(T) != 0 || bytes.size() / sizeof(T) < min_count ||
      bytes.size() / sizeof(T) > max_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s.%s is %d bytes: it must be whole %ss of %d bytes, %d to %d of them", where, field,
        bytes.size(), unit, sizeof(T), min_count, max_count));
  }
  out.resize(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return absl::OkStatus();
}

}  // namespace

v1::KvmVcpuState VcpuStateToProto(const VcpuState& state) {
  v1::KvmVcpuState proto;
  proto.set_cpuid(ArrayBytes(state.cpuid));
  proto.set_tsc_khz(state.tsc_khz);
  proto.set_mp_state(state.mp_state.mp_state);
  proto.set_regs(Bytes(state.regs));
  proto.set_sregs(Bytes(state.sregs));
  proto.set_fpu(Bytes(state.fpu));
  proto.set_xsave(ArrayBytes(state.xsave));
  proto.set_xcrs(Bytes(state.xcrs));
  proto.set_debug_regs(Bytes(state.debug_regs));
  proto.set_lapic(Bytes(state.lapic));
  for (const kvm_msr_entry& entry : state.msrs) {
    v1::Msr* msr = proto.add_msrs();
    msr->set_index(entry.index);
    msr->set_value(entry.data);
  }
  proto.set_events(Bytes(state.events));
  return proto;
}

absl::StatusOr<VcpuState> VcpuStateFromProto(const v1::KvmVcpuState& proto, absl::string_view where) {
  VcpuState state;
  RETURN_IF_ERROR(ArrayFromBytes(proto.cpuid(), where, "cpuid", "struct kvm_cpuid_entry2", 1,
                                 kMaxCpuidEntries, state.cpuid));
  state.tsc_khz = proto.tsc_khz();
  state.mp_state.mp_state = proto.mp_state();
  RETURN_IF_ERROR(FromBytes(proto.regs(), where, "regs", "struct kvm_regs", state.regs));
  RETURN_IF_ERROR(FromBytes(proto.sregs(), where, "sregs", "struct kvm_sregs", state.sregs));
  RETURN_IF_ERROR(FromBytes(proto.fpu(), where, "fpu", "struct kvm_fpu", state.fpu));
  RETURN_IF_ERROR(ArrayFromBytes(proto.xsave(), where, "xsave", "word",
                                 kMinXsaveBytes / sizeof(uint32_t), 1 << 20, state.xsave));
  RETURN_IF_ERROR(FromBytes(proto.xcrs(), where, "xcrs", "struct kvm_xcrs", state.xcrs));
  RETURN_IF_ERROR(
      FromBytes(proto.debug_regs(), where, "debug_regs", "struct kvm_debugregs", state.debug_regs));
  RETURN_IF_ERROR(FromBytes(proto.lapic(), where, "lapic", "struct kvm_lapic_state", state.lapic));
  state.msrs.reserve(proto.msrs_size());
  for (const v1::Msr& msr : proto.msrs()) {
    kvm_msr_entry entry = {};
    entry.index = msr.index();
    entry.data = msr.value();
    state.msrs.push_back(entry);
  }
  RETURN_IF_ERROR(FromBytes(proto.events(), where, "events", "struct kvm_vcpu_events", state.events));
  return state;
}

v1::KvmVmState VmStateToProto(const VmState& state) {
  v1::KvmVmState proto;
  proto.set_pic_master(Bytes(state.pic_master));
  proto.set_pic_slave(Bytes(state.pic_slave));
  proto.set_ioapic(Bytes(state.ioapic));
  proto.set_pit(Bytes(state.pit));
  proto.set_clock_ns(state.clock.clock);
  return proto;
}

absl::StatusOr<VmState> VmStateFromProto(const v1::KvmVmState& proto, absl::string_view where) {
  VmState state;
  struct Chip {
    const std::string& bytes;
    const char* field;
    uint32_t chip_id;
    kvm_irqchip& out;
  };
  for (const Chip& chip : {Chip{proto.pic_master(), "pic_master", KVM_IRQCHIP_PIC_MASTER, state.pic_master},
                           Chip{proto.pic_slave(), "pic_slave", KVM_IRQCHIP_PIC_SLAVE, state.pic_slave},
                           Chip{proto.ioapic(), "ioapic", KVM_IRQCHIP_IOAPIC, state.ioapic}}) {
    RETURN_IF_ERROR(FromBytes(chip.bytes, where, chip.field, "struct kvm_irqchip", chip.out));
    if (chip.out.chip_id != chip.chip_id) {
      return absl::InvalidArgumentError(absl::StrFormat("%s.%s has chip_id %d; it must be %d",
                                                        where, chip.field, chip.out.chip_id,
                                                        chip.chip_id));
    }
  }
  RETURN_IF_ERROR(FromBytes(proto.pit(), where, "pit", "struct kvm_pit_state2", state.pit));
  state.clock.clock = proto.clock_ns();
  return state;
}

}  // namespace vmmd::snapshot
