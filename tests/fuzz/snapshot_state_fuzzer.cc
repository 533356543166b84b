// Fuzzes the reading of a snapshot's state file (snapshot/state_file.h) and of the KVM and device state
// inside it (snapshot/kvm_state_proto.h, device_state_proto.h): what vmmd reads from disk when it
// restores.
//
// Input: one byte of mode, then the rest. Mode even: the rest is a whole state file, header
// and all (most mutations stop at the checksum). Mode odd: the rest is a payload, framed
// here with a correct header, so that the parser and every field check are reached.
// Invariants:
//   - a refusal is INVALID_ARGUMENT or FAILED_PRECONDITION, with a message;
//   - the spec (daemon/vm_spec_proto.h) converts, or is refused naming "spec.", and round
//     trips; a vCPU's CPUID is offered by itself (snapshot/cpuid_check.h);
//   - what is accepted encodes again into a file that decodes to the same message;
//   - each vCPU's and the VM's KVM state either converts or is refused with INVALID_ARGUMENT
//     naming the vCPU, and what converts converts back to the same bytes.
//
// Built with -DVMMD_SNAPSHOT_FUZZER_SEED_GEN, this file is the seed generator instead:
// snapshot_seed_gen KIND OUT_DIR SEED... writes well-formed state files.
#include <linux/kvm.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crc64.h"
#include "daemon/vm_spec_proto.h"
#include "snapshot/cpuid_check.h"
#include "snapshot/device_state_proto.h"
#include "snapshot/kvm_state_proto.h"
#include "snapshot/state_file.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/seed_file.h"

namespace vmmd::fuzz::snapshot_state {

using ::vmmd::snapshot::v1::MachineState;

// A well-formed state of `vcpus` vCPUs, as a real save would give (zeroed structures).
MachineState SomeState(int vcpus) {
  VmState vm;
  vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  vm.clock.clock = 1'000'000'000;
  MachineState state;
  state.set_vmmd_version("seed");
  *state.mutable_vm() = snapshot::VmStateToProto(vm);
  *state.mutable_serial() = snapshot::SerialStateToProto(SerialState{});
  *state.mutable_i8042() = snapshot::I8042StateToProto(I8042State{});
  snapshot::v1::VirtioDeviceState* net = state.add_virtio_devices();
  net->set_id("eth0");
  net->set_kind("virtio-net");
  virtio::MmioTransportState transport;
  transport.queues.resize(2);
  transport.queues[0].size = 256;
  *net->mutable_transport() = snapshot::MmioTransportStateToProto(transport);
  *net->mutable_net() = snapshot::NetDeviceStateToProto(virtio::NetDeviceState{{2, 0, 0, 0, 0, 1}, 0});
  for (int i = 0; i < vcpus; ++i) {
    VcpuState vcpu;
    vcpu.cpuid.resize(4);
    vcpu.cpuid[1].function = 1;
    vcpu.tsc_khz = 2'000'000;
    vcpu.regs.rip = 0x100000 + i;
    vcpu.xsave.assign(1024, 0);
    vcpu.msrs = {{0x174, 0, 0x10}, {0x10, 0, 123456}};
    *state.add_vcpus() = snapshot::VcpuStateToProto(vcpu);
  }
  return state;
}

// `payload` behind a correct header, as EncodeStateFile would frame it.
std::string Framed(const std::string& payload) {
  std::string file = snapshot::EncodeStateFile(MachineState()).substr(0, snapshot::kHeaderSize);
  const uint64_t crc = Crc64(payload);
  for (int i = 0; i < 8; ++i) {
    file[16 + i] = static_cast<char>((payload.size() >> (8 * i)) & 0xff);
    file[24 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
  return file + payload;
}

}  // namespace vmmd::fuzz::snapshot_state

#ifdef VMMD_SNAPSHOT_FUZZER_SEED_GEN

int main(int argc, char** argv) {
  using vmmd::fuzz::snapshot_state::SomeState;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s KIND OUT_DIR SEED...\n", argv[0]);
    return 2;
  }
  for (int i = 3; i < argc; ++i) {
    const std::string name = argv[i];
    // The mode byte, then a whole file (even) or a payload to frame (odd).
    std::string bytes;
    if (name == "one_vcpu") {
      bytes = std::string(1, '\0') + vmmd::snapshot::EncodeStateFile(SomeState(1));
    } else if (name == "four_vcpus") {
      bytes = std::string(1, '\0') + vmmd::snapshot::EncodeStateFile(SomeState(4));
    } else if (name == "payload_two_vcpus") {
      bytes = std::string(1, '\1') + SomeState(2).SerializeAsString();
    } else {
      std::fprintf(stderr, "snapshot_seed_gen: no seed %s\n", argv[i]);
      return 1;
    }
    if (!vmmd::fuzz::WriteSeedFile("snapshot_seed_gen", argv[2], name, bytes)) return 1;
  }
  return 0;
}

#else

namespace vmmd::fuzz::snapshot_state {
namespace {

bool IsRefusal(const absl::Status& status) {
  return (status.code() == absl::StatusCode::kInvalidArgument ||
          status.code() == absl::StatusCode::kFailedPrecondition) &&
         !status.message().empty();
}

// A device state either converts or is refused with INVALID_ARGUMENT naming where it is;
// what converts converts back to the same message (unknown fields aside).
template <typename Proto, typename FromProto, typename ToProto>
void CheckOne(const Proto& proto, const std::string& where, FromProto from, ToProto to) {
  auto state = from(proto, where);
  if (!state.ok()) {
    FUZZ_CHECK(state.status().code() == absl::StatusCode::kInvalidArgument &&
                   absl::StrContains(state.status().message(), where),
               state.status().ToString());
    return;
  }
  // Fields this vmmd does not know (a parsed message keeps them) are not state.
  Proto known = proto;
  known.DiscardUnknownFields();
  FUZZ_CHECK(to(*state).SerializeAsString() == known.SerializeAsString(),
             where + " converts back to another message");
}

void CheckDeviceState(const MachineState& state) {
  CheckOne(state.serial(), "serial", snapshot::SerialStateFromProto, snapshot::SerialStateToProto);
  CheckOne(state.i8042(), "i8042", snapshot::I8042StateFromProto, snapshot::I8042StateToProto);
  for (int i = 0; i < state.virtio_devices_size(); ++i) {
    const auto& device = state.virtio_devices(i);
    const std::string where = absl::StrCat("virtio_devices[", i, "]");
    CheckOne(device.transport(), where + ".transport", snapshot::MmioTransportStateFromProto,
             snapshot::MmioTransportStateToProto);
    if (device.has_net()) {
      CheckOne(device.net(), where + ".net", snapshot::NetDeviceStateFromProto,
               snapshot::NetDeviceStateToProto);
    }
  }
}

void CheckKvmState(const MachineState& state) {
  for (int i = 0; i < state.vcpus_size(); ++i) {
    const std::string where = absl::StrCat("vcpus[", i, "]");
    absl::StatusOr<VcpuState> vcpu = snapshot::VcpuStateFromProto(state.vcpus(i), where);
    if (!vcpu.ok()) {
      FUZZ_CHECK(vcpu.status().code() == absl::StatusCode::kInvalidArgument &&
                     absl::StrContains(vcpu.status().message(), where),
                 vcpu.status().ToString());
      continue;
    }
    const snapshot::v1::KvmVcpuState again = snapshot::VcpuStateToProto(*vcpu);
    FUZZ_CHECK(again.regs() == state.vcpus(i).regs() && again.xsave() == state.vcpus(i).xsave() &&
                   again.cpuid() == state.vcpus(i).cpuid() && again.lapic() == state.vcpus(i).lapic(),
               "a converted vCPU state converts back to other bytes");
  }
  CheckDeviceState(state);
  absl::StatusOr<VmState> vm = snapshot::VmStateFromProto(state.vm(), "vm");
  if (!vm.ok()) {
    FUZZ_CHECK(vm.status().code() == absl::StatusCode::kInvalidArgument, vm.status().ToString());
    return;
  }
  FUZZ_CHECK(snapshot::VmStateToProto(*vm).SerializeAsString() ==
                 [&] {
                   snapshot::v1::KvmVmState canonical;
                   canonical.set_pic_master(state.vm().pic_master());
                   canonical.set_pic_slave(state.vm().pic_slave());
                   canonical.set_ioapic(state.vm().ioapic());
                   canonical.set_pit(state.vm().pit());
                   canonical.set_clock_ns(state.vm().clock_ns());
                   return canonical.SerializeAsString();
                 }(),
             "a converted VM state converts back to other bytes");
}

// The spec either converts or is refused with INVALID_ARGUMENT naming "spec."; what converts
// converts back to a spec that converts to the same message.
void CheckSpec(const MachineState& state) {
  absl::StatusOr<VmSpec> spec = VmSpecFromProto(state.spec());
  if (!spec.ok()) {
    FUZZ_CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument &&
                   absl::StrContains(spec.status().message(), "spec."),
               spec.status().ToString());
    return;
  }
  const snapshot::v1::VmSpec once = VmSpecToProto(spec->config, spec->boot);
  absl::StatusOr<VmSpec> again = VmSpecFromProto(once);
  FUZZ_CHECK(again.ok(), again.status().ToString());
  FUZZ_CHECK(VmSpecToProto(again->config, again->boot).SerializeAsString() == once.SerializeAsString(),
             "a converted spec converts back to another");
}

// Each vCPU's CPUID, whole entries only (as RestoreVm reads it): a CPU offers what it offers,
// and against a host offering nothing the answer is OK or FAILED_PRECONDITION.
void CheckCpuid(const MachineState& state) {
  for (int i = 0; i < state.vcpus_size(); ++i) {
    const std::string& bytes = state.vcpus(i).cpuid();
    std::vector<kvm_cpuid_entry2> cpuid(bytes.size() / sizeof(kvm_cpuid_entry2));
    std::memcpy(cpuid.data(), bytes.data(), cpuid.size() * sizeof(kvm_cpuid_entry2));
    const absl::Status itself = snapshot::CheckCpuidOffered(cpuid, cpuid, "vcpus");
    FUZZ_CHECK(itself.ok(), itself.ToString());
    const absl::Status nothing = snapshot::CheckCpuidOffered(cpuid, {}, "vcpus");
    FUZZ_CHECK(nothing.ok() || nothing.code() == absl::StatusCode::kFailedPrecondition,
               nothing.ToString());
  }
}

}  // namespace
}  // namespace vmmd::fuzz::snapshot_state

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd::fuzz::snapshot_state;
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string file = (data[0] & 1) ? Framed(rest) : rest;
  absl::StatusOr<MachineState> state = vmmd::snapshot::DecodeStateFile(file);
  if (!state.ok()) {
    FUZZ_CHECK(IsRefusal(state.status()), state.status().ToString());
    return 0;
  }
  absl::StatusOr<MachineState> again =
      vmmd::snapshot::DecodeStateFile(vmmd::snapshot::EncodeStateFile(*state));
  FUZZ_CHECK(again.ok(), again.status().ToString());
  FUZZ_CHECK(again->SerializeAsString() == state->SerializeAsString(),
             "an accepted state encodes into a file that decodes to another");
  CheckKvmState(*state);
  CheckSpec(*state);
  CheckCpuid(*state);
  return 0;
}

#endif
