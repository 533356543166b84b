#include "snapshot/device_state_proto.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace vmmd::snapshot {
namespace {

// More queues than any of vmmd's devices has (vsock's 3): a message with more is not ours.
constexpr int kMaxQueues = 16;

// `value` into `out` (a narrower unsigned type), or INVALID_ARGUMENT naming the field.
template <typename T>
absl::Status Narrow(uint64_t value, absl::string_view where, absl::string_view field, T& out) {
  if (value > std::numeric_limits<T>::max()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s.%s is %d; it is %d bits", where, field,
                                                      value, 8 * sizeof(T)));
  }
  out = static_cast<T>(value);
  return absl::OkStatus();
}

v1::VirtqueueState VirtqueueStateToProto(const virtio::VirtqueueState& state) {
  v1::VirtqueueState proto;
  proto.set_size(state.size);
  proto.set_ready(state.ready);
  proto.set_descriptor_table(state.descriptor_table.value());
  proto.set_available_ring(state.available_ring.value());
  proto.set_used_ring(state.used_ring.value());
  proto.set_event_idx(state.event_idx);
  proto.set_indirect_descriptors(state.indirect_descriptors);
  proto.set_next_avail(state.next_avail);
  proto.set_next_used(state.next_used);
  proto.set_signalled_used(state.signalled_used);
  return proto;
}

absl::StatusOr<virtio::VirtqueueState> VirtqueueStateFromProto(const v1::VirtqueueState& proto,
                                                               absl::string_view where) {
  virtio::VirtqueueState state;
  RETURN_IF_ERROR(Narrow(proto.size(), where, "size", state.size));
  state.ready = proto.ready();
  state.descriptor_table = GuestAddress(proto.descriptor_table());
  state.available_ring = GuestAddress(proto.available_ring());
  state.used_ring = GuestAddress(proto.used_ring());
  state.event_idx = proto.event_idx();
  state.indirect_descriptors = proto.indirect_descriptors();
  RETURN_IF_ERROR(Narrow(proto.next_avail(), where, "next_avail", state.next_avail));
  RETURN_IF_ERROR(Narrow(proto.next_used(), where, "next_used", state.next_used));
  RETURN_IF_ERROR(Narrow(proto.signalled_used(), where, "signalled_used", state.signalled_used));
  return state;
}

}  // namespace

v1::SerialState SerialStateToProto(const SerialState& state) {
  v1::SerialState proto;
  proto.set_ier(state.ier);
  proto.set_lcr(state.lcr);
  proto.set_mcr(state.mcr);
  proto.set_lsr(state.lsr);
  proto.set_msr(state.msr);
  proto.set_scr(state.scr);
  proto.set_fcr(state.fcr);
  proto.set_divisor(state.divisor);
  proto.set_thr_empty_pending(state.thr_empty_pending);
  proto.set_interrupt_raised(state.interrupt_raised);
  proto.set_input(std::string(state.input.begin(), state.input.end()));
  return proto;
}

absl::StatusOr<SerialState> SerialStateFromProto(const v1::SerialState& proto, absl::string_view where) {
  SerialState state;
  RETURN_IF_ERROR(Narrow(proto.ier(), where, "ier", state.ier));
  RETURN_IF_ERROR(Narrow(proto.lcr(), where, "lcr", state.lcr));
  RETURN_IF_ERROR(Narrow(proto.mcr(), where, "mcr", state.mcr));
  RETURN_IF_ERROR(Narrow(proto.lsr(), where, "lsr", state.lsr));
  RETURN_IF_ERROR(Narrow(proto.msr(), where, "msr", state.msr));
  RETURN_IF_ERROR(Narrow(proto.scr(), where, "scr", state.scr));
  RETURN_IF_ERROR(Narrow(proto.fcr(), where, "fcr", state.fcr));
  RETURN_IF_ERROR(Narrow(proto.divisor(), where, "divisor", state.divisor));
  state.thr_empty_pending = proto.thr_empty_pending();
  state.interrupt_raised = proto.interrupt_raised();
  if (proto.input().size() > Serial::kMaxInputBytes) {
    return absl::InvalidArgumentError(absl::StrFormat("%s.input is %d bytes; at most %d",
                                                      where, proto.input().size(),
                                                      Serial::kMaxInputBytes));
  }
  state.input.assign(proto.input().begin(), proto.input().end());
  return state;
}

v1::I8042State I8042StateToProto(const I8042State& state) {
  v1::I8042State proto;
  proto.set_command_byte(state.command_byte);
  proto.set_pending_command(state.pending_command);
  proto.set_output_port(state.output_port);
  proto.set_last_write_was_command(state.last_write_was_command);
  for (const I8042State::OutputByte& byte : state.output) {
    v1::I8042State::OutputByte* out = proto.add_output();
    out->set_value(byte.value);
    out->set_from_aux(byte.from_aux);
  }
  return proto;
}

absl::StatusOr<I8042State> I8042StateFromProto(const v1::I8042State& proto, absl::string_view where) {
  I8042State state;
  RETURN_IF_ERROR(Narrow(proto.command_byte(), where, "command_byte", state.command_byte));
  RETURN_IF_ERROR(Narrow(proto.pending_command(), where, "pending_command", state.pending_command));
  RETURN_IF_ERROR(Narrow(proto.output_port(), where, "output_port", state.output_port));
  state.last_write_was_command = proto.last_write_was_command();
  if (static_cast<size_t>(proto.output_size()) > I8042::kMaxOutputBytes) {
    return absl::InvalidArgumentError(absl::StrFormat("%s.output has %d bytes; at most %d", where,
                                                      proto.output_size(), I8042::kMaxOutputBytes));
  }
  for (int i = 0; i < proto.output_size(); ++i) {
    I8042State::OutputByte byte;
    RETURN_IF_ERROR(Narrow(proto.output(i).value(), where, absl::StrCat("output[", i, "].value"), byte.value));
    byte.from_aux = proto.output(i).from_aux();
    state.output.push_back(byte);
  }
  return state;
}

v1::ResourceAllocatorState ResourceAllocatorStateToProto(const ResourceAllocatorState& state) {
  v1::ResourceAllocatorState proto;
  for (const MmioWindow& window : state.mmio_windows) {
    v1::ResourceAllocatorState::MmioWindow* out = proto.add_mmio_windows();
    out->set_base(window.base);
    out->set_size(window.size);
  }
  for (uint32_t irq : state.irqs) proto.add_irqs(irq);
  return proto;
}

ResourceAllocatorState ResourceAllocatorStateFromProto(const v1::ResourceAllocatorState& proto) {
  // ResourceAllocator's own constructor from a state checks every window and line.
  ResourceAllocatorState state;
  for (const auto& window : proto.mmio_windows()) {
    state.mmio_windows.push_back(MmioWindow{window.base(), window.size()});
  }
  state.irqs.assign(proto.irqs().begin(), proto.irqs().end());
  return state;
}

v1::MmioTransportState MmioTransportStateToProto(const virtio::MmioTransportState& state) {
  v1::MmioTransportState proto;
  proto.set_status(state.status);
  proto.set_device_features_sel(state.device_features_sel);
  proto.set_driver_features_sel(state.driver_features_sel);
  proto.set_driver_features(state.driver_features);
  proto.set_queue_sel(state.queue_sel);
  proto.set_interrupt_status(state.interrupt_status);
  proto.set_config_generation(state.config_generation);
  for (const virtio::VirtqueueState& queue : state.queues) {
    *proto.add_queues() = VirtqueueStateToProto(queue);
  }
  return proto;
}

absl::StatusOr<virtio::MmioTransportState> MmioTransportStateFromProto(
    const v1::MmioTransportState& proto, absl::string_view where) {
  virtio::MmioTransportState state;
  state.status = proto.status();
  state.device_features_sel = proto.device_features_sel();
  state.driver_features_sel = proto.driver_features_sel();
  state.driver_features = proto.driver_features();
  state.queue_sel = proto.queue_sel();
  state.interrupt_status = proto.interrupt_status();
  state.config_generation = proto.config_generation();
  if (proto.queues_size() > kMaxQueues) {
    return absl::InvalidArgumentError(absl::StrFormat("%s.queues has %d queues; at most %d",
                                                      where, proto.queues_size(), kMaxQueues));
  }
  for (int i = 0; i < proto.queues_size(); ++i) {
    ASSIGN_OR_RETURN(virtio::VirtqueueState queue,
                     VirtqueueStateFromProto(proto.queues(i), absl::StrCat(where, ".queues[", i, "]")));
    state.queues.push_back(queue);
  }
  return state;
}

v1::NetDeviceState NetDeviceStateToProto(const virtio::NetDeviceState& state) {
  v1::NetDeviceState proto;
  proto.set_mac(std::string(state.mac.begin(), state.mac.end()));
  proto.set_negotiated_features(state.negotiated_features);
  return proto;
}

absl::StatusOr<virtio::NetDeviceState> NetDeviceStateFromProto(const v1::NetDeviceState& proto,
                                                               absl::string_view where) {
  virtio::NetDeviceState state;
  if (proto.mac().size() != state.mac.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s.mac is %d bytes; a MAC address is 6", where, proto.mac().size()));
  }
  for (size_t i = 0; i < state.mac.size(); ++i) state.mac[i] = static_cast<uint8_t>(proto.mac()[i]);
  state.negotiated_features = proto.negotiated_features();
  return state;
}

v1::VsockDeviceState VsockDeviceStateToProto(const virtio::VsockDeviceState& state) {
  v1::VsockDeviceState proto;
  proto.set_guest_cid(state.guest_cid);
  proto.set_uds_path(state.uds_path);
  return proto;
}

virtio::VsockDeviceState VsockDeviceStateFromProto(const v1::VsockDeviceState& proto) {
  // The CID and path are checked as CreateVm checks them, when the device is built.
  return virtio::VsockDeviceState{proto.guest_cid(), proto.uds_path()};
}

}  // namespace vmmd::snapshot
