#include "snapshot/device_state_proto.h"

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::snapshot {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

TEST(DeviceStateProtoTest, SerialRoundTripsAndRefusesWideRegisters) {
  SerialState state;
  state.ier = 0x0f;
  state.lcr = 0x9b;
  state.mcr = 0x1b;
  state.lsr = 0x61;
  state.msr = 0xb1;
  state.scr = 0x5a;
  state.fcr = 0xc7;
  state.divisor = 0x1234;
  state.thr_empty_pending = true;
  state.interrupt_raised = true;
  state.input = {'h', 'i', 0, 0xff};
  ASSERT_OK_AND_ASSIGN(SerialState back, SerialStateFromProto(SerialStateToProto(state), "serial"));
  EXPECT_EQ(back, state);

  v1::SerialState wide = SerialStateToProto(state);
  wide.set_lcr(256);
  EXPECT_THAT(SerialStateFromProto(wide, "serial"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial.lcr is 256; it is 8 bits")));
  v1::SerialState divisor = SerialStateToProto(state);
  divisor.set_divisor(0x10000);
  EXPECT_THAT(SerialStateFromProto(divisor, "serial"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial.divisor")));
  v1::SerialState flood = SerialStateToProto(state);
  flood.set_input(std::string(Serial::kMaxInputBytes + 1, 'x'));
  EXPECT_THAT(SerialStateFromProto(flood, "serial"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial.input")));
}

TEST(DeviceStateProtoTest, I8042RoundTripsAndRefusesTooMuchOutput) {
  I8042State state;
  state.command_byte = 0x47;
  state.pending_command = 0xd1;
  state.output_port = 0x01;
  state.last_write_was_command = false;
  state.output = {{0xfa, false}, {0x55, true}};
  ASSERT_OK_AND_ASSIGN(I8042State back, I8042StateFromProto(I8042StateToProto(state), "i8042"));
  EXPECT_EQ(back, state);

  v1::I8042State full = I8042StateToProto(state);
  for (size_t i = 0; i < I8042::kMaxOutputBytes; ++i) full.add_output()->set_value(1);
  EXPECT_THAT(I8042StateFromProto(full, "i8042"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("i8042.output")));
  v1::I8042State wide = I8042StateToProto(state);
  wide.mutable_output(1)->set_value(300);
  EXPECT_THAT(I8042StateFromProto(wide, "i8042"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("i8042.output[1].value")));
}

TEST(DeviceStateProtoTest, ResourcesRoundTrip) {
  ResourceAllocatorState state;
  state.mmio_windows = {{0xc0000000, 0x1000}, {0xc0001000, 0x1000}};
  state.irqs = {5, 6};
  EXPECT_EQ(ResourceAllocatorStateFromProto(ResourceAllocatorStateToProto(state)), state);
}

TEST(DeviceStateProtoTest, TransportAndQueuesRoundTripAndRefuseWideIndices) {
  virtio::MmioTransportState state;
  state.status = 0x0f;
  state.device_features_sel = 1;
  state.driver_features_sel = 1;
  state.driver_features = (uint64_t{1} << 32) | (1 << 29);
  state.queue_sel = 1;
  state.interrupt_status = 1;
  state.config_generation = 3;
  for (int i = 0; i < 2; ++i) {
    virtio::VirtqueueState queue;
    queue.size = 256;
    queue.ready = true;
    queue.descriptor_table = GuestAddress(0x10000 * (i + 1));
    queue.available_ring = GuestAddress(0x10000 * (i + 1) + 0x1000);
    queue.used_ring = GuestAddress(0x10000 * (i + 1) + 0x2000);
    queue.event_idx = true;
    queue.indirect_descriptors = i == 1;
    queue.next_avail = static_cast<uint16_t>(65530 + i);
    queue.next_used = static_cast<uint16_t>(65529 + i);
    queue.signalled_used = 7;
    state.queues.push_back(queue);
  }
  ASSERT_OK_AND_ASSIGN(virtio::MmioTransportState back,
                       MmioTransportStateFromProto(MmioTransportStateToProto(state), "virtio_devices[0].transport"));
  EXPECT_EQ(back.status, state.status);
  EXPECT_EQ(back.device_features_sel, state.device_features_sel);
  EXPECT_EQ(back.driver_features_sel, state.driver_features_sel);
  EXPECT_EQ(back.driver_features, state.driver_features);
  EXPECT_EQ(back.queue_sel, state.queue_sel);
  EXPECT_EQ(back.interrupt_status, state.interrupt_status);
  EXPECT_EQ(back.config_generation, state.config_generation);
  EXPECT_EQ(back.queues, state.queues);

  v1::MmioTransportState wide = MmioTransportStateToProto(state);
  wide.mutable_queues(1)->set_next_avail(65536);
  EXPECT_THAT(MmioTransportStateFromProto(wide, "virtio_devices[0].transport"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("virtio_devices[0].transport.queues[1].next_avail is 65536")));
  v1::MmioTransportState many = MmioTransportStateToProto(state);
  for (int i = 0; i < 15; ++i) many.add_queues();
  EXPECT_THAT(MmioTransportStateFromProto(many, "t"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("t.queues has 17 queues")));
}

TEST(DeviceStateProtoTest, NetAndVsockRoundTrip) {
  virtio::NetDeviceState net;
  net.mac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  net.negotiated_features = 0x1'0000'8020;
  ASSERT_OK_AND_ASSIGN(virtio::NetDeviceState back, NetDeviceStateFromProto(NetDeviceStateToProto(net), "net"));
  EXPECT_EQ(back, net);
  v1::NetDeviceState short_mac = NetDeviceStateToProto(net);
  short_mac.mutable_mac()->pop_back();
  EXPECT_THAT(NetDeviceStateFromProto(short_mac, "virtio_devices[2].net"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("virtio_devices[2].net.mac is 5 bytes")));

  virtio::VsockDeviceState vsock{42, "/run/vmmd/vsock/vm1.sock"};
  const virtio::VsockDeviceState vsock_back = VsockDeviceStateFromProto(VsockDeviceStateToProto(vsock));
  EXPECT_EQ(vsock_back.guest_cid, 42u);
  EXPECT_EQ(vsock_back.uds_path, vsock.uds_path);
}

}  // namespace
}  // namespace vmmd::snapshot
