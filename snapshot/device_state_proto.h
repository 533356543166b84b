// The devices' states (each a plain value: devices/serial.h, i8042.h, resource_allocator.h,
// virtio/mmio_transport.h and virtqueue.h, the net and vsock devices) to and from a
// snapshot's messages. Reading back checks what the message cannot: a register that must
// fit 8 or 16 bits, a MAC of 6 bytes, queues beyond any device's; the devices' own Restore
// checks the rest (sizes, addresses, state machines).
#ifndef VMMD_SNAPSHOT_DEVICE_STATE_PROTO_H_
#define VMMD_SNAPSHOT_DEVICE_STATE_PROTO_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "devices/i8042.h"
#include "devices/resource_allocator.h"
#include "devices/serial.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/virtqueue.h"
#include "devices/virtio/vsock/vsock_device.h"
#include "snapshot/v1/machine_state.pb.h"

namespace vmmd::snapshot {

// Each FromProto returns INVALID_ARGUMENT naming `where` and the field ("serial.lcr is 256;
// it is 8 bits").

v1::SerialState SerialStateToProto(const SerialState& state);
absl::StatusOr<SerialState> SerialStateFromProto(const v1::SerialState& proto, absl::string_view where);

v1::I8042State I8042StateToProto(const I8042State& state);
absl::StatusOr<I8042State> I8042StateFromProto(const v1::I8042State& proto, absl::string_view where);

v1::ResourceAllocatorState ResourceAllocatorStateToProto(const ResourceAllocatorState& state);
ResourceAllocatorState ResourceAllocatorStateFromProto(const v1::ResourceAllocatorState& proto);

v1::MmioTransportState MmioTransportStateToProto(const virtio::MmioTransportState& state);
absl::StatusOr<virtio::MmioTransportState> MmioTransportStateFromProto(
    const v1::MmioTransportState& proto, absl::string_view where);

v1::NetDeviceState NetDeviceStateToProto(const virtio::NetDeviceState& state);
absl::StatusOr<virtio::NetDeviceState> NetDeviceStateFromProto(const v1::NetDeviceState& proto,
                                                               absl::string_view where);

v1::VsockDeviceState VsockDeviceStateToProto(const virtio::VsockDeviceState& state);
virtio::VsockDeviceState VsockDeviceStateFromProto(const v1::VsockDeviceState& proto);

}  // namespace vmmd::snapshot

#endif  // VMMD_SNAPSHOT_DEVICE_STATE_PROTO_H_
