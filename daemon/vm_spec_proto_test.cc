#include "daemon/vm_spec_proto.h"

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

VmConfig SomeConfig() {
  VmConfig config;
  config.vcpu_count = 3;
  config.memory_mib = 256;
  config.coalesce_serial_output = false;
  config.virtio_ring_features = false;
  config.virtio_net_offloads = false;
  config.transparent_huge_pages = true;
  config.drives = {DriveConfig{"root", "/images/root.ext4", true, true},
                   DriveConfig{"data", "/images/data.img", false, false}};
  config.entropy_device = true;
  config.network_interfaces = {
      NetworkInterfaceConfig{"eth0", "tap0", {0x02, 0x11, 0x22, 0x33, 0x44, 0x55}}};
  config.vsock = VsockConfig{7, "/run/vmmd/vsock/a.sock"};
  return config;
}

VmBoot SomeBoot() {
  VmBoot boot;
  boot.info.protocol = BootProtocol::kPvh;
  boot.info.entry_point = GuestAddress(0x1000000);
  boot.info.zero_page = GuestAddress(0x7000);
  boot.info.start_info = GuestAddress(0x6000);
  boot.info.cmdline = GuestAddress(0x20000);
  boot.info.cmdline_size = 42;
  boot.info.initrd = GuestAddress(0x8000000);
  boot.info.initrd_size = 4096;
  boot.info.mp_table = GuestAddress(0x9fc00);
  boot.info.mp_table_size = 300;
  boot.info.page_table_root = GuestAddress(0x9000);
  boot.info.identity_mapped_bytes = 1ull << 30;
  boot.info.stack_pointer = GuestAddress(0x8ff0);
  boot.info.e820 = {E820Entry{0, 0x9fc00, 1}, E820Entry{0x100000, 0xff00000, 1}};
  boot.info.acpi_rsdp = GuestAddress(0xe0000);
  boot.info.acpi_tables = {{"RSDP", GuestAddress(0xe0000), 36}, {"DSDT", GuestAddress(0xe0028), 197}};
  boot.kernel_path = "/images/vmlinux";
  boot.kernel_format = "elf";
  boot.cmdline = "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5";
  return boot;
}

TEST(VmSpecProtoTest, RoundTripsEveryField) {
  absl::StatusOr<VmSpec> back = VmSpecFromProto(VmSpecToProto(SomeConfig(), SomeBoot()));
  ASSERT_TRUE(back.ok()) << back.status();
  const VmConfig& config = back->config;
  const VmConfig want = SomeConfig();
  EXPECT_EQ(config.vcpu_count, want.vcpu_count);
  EXPECT_EQ(config.memory_mib, want.memory_mib);
  EXPECT_EQ(config.coalesce_serial_output, want.coalesce_serial_output);
  EXPECT_EQ(config.virtio_ring_features, want.virtio_ring_features);
  EXPECT_EQ(config.virtio_net_offloads, want.virtio_net_offloads);
  EXPECT_EQ(config.transparent_huge_pages, want.transparent_huge_pages);
  ASSERT_EQ(config.drives.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(config.drives[i].id, want.drives[i].id);
    EXPECT_EQ(config.drives[i].path, want.drives[i].path);
    EXPECT_EQ(config.drives[i].read_only, want.drives[i].read_only);
    EXPECT_EQ(config.drives[i].root, want.drives[i].root);
  }
  EXPECT_TRUE(config.entropy_device);
  ASSERT_EQ(config.network_interfaces.size(), 1u);
  EXPECT_EQ(config.network_interfaces[0].id, "eth0");
  EXPECT_EQ(config.network_interfaces[0].host_dev_name, "tap0");
  EXPECT_EQ(config.network_interfaces[0].mac, want.network_interfaces[0].mac);
  ASSERT_TRUE(config.vsock.has_value());
  EXPECT_EQ(config.vsock->guest_cid, 7u);
  EXPECT_EQ(config.vsock->uds_path, "/run/vmmd/vsock/a.sock");

  const BootInfo& info = back->boot.info;
  const BootInfo want_info = SomeBoot().info;
  EXPECT_EQ(info.protocol, BootProtocol::kPvh);
  EXPECT_EQ(info.entry_point.value(), want_info.entry_point.value());
  EXPECT_EQ(info.zero_page.value(), want_info.zero_page.value());
  EXPECT_EQ(info.start_info.value(), want_info.start_info.value());
  EXPECT_EQ(info.cmdline.value(), want_info.cmdline.value());
  EXPECT_EQ(info.cmdline_size, want_info.cmdline_size);
  EXPECT_EQ(info.initrd.value(), want_info.initrd.value());
  EXPECT_EQ(info.initrd_size, want_info.initrd_size);
  EXPECT_EQ(info.mp_table.value(), want_info.mp_table.value());
  EXPECT_EQ(info.mp_table_size, want_info.mp_table_size);
  EXPECT_EQ(info.page_table_root.value(), want_info.page_table_root.value());
  EXPECT_EQ(info.identity_mapped_bytes, want_info.identity_mapped_bytes);
  EXPECT_EQ(info.stack_pointer.value(), want_info.stack_pointer.value());
  ASSERT_EQ(info.e820.size(), 2u);
  EXPECT_EQ(info.e820[1].addr, 0x100000u);
  EXPECT_EQ(info.e820[1].size, 0xff00000u);
  EXPECT_EQ(info.e820[1].type, 1u);
  EXPECT_EQ(info.acpi_rsdp.value(), 0xe0000u);
  ASSERT_EQ(info.acpi_tables.size(), 2u);
  EXPECT_EQ(info.acpi_tables[1].signature, "DSDT");
  EXPECT_EQ(info.acpi_tables[1].address.value(), 0xe0028u);
  EXPECT_EQ(info.acpi_tables[1].length, 197u);
  EXPECT_EQ(back->boot.kernel_path, "/images/vmlinux");
  EXPECT_EQ(back->boot.kernel_format, "elf");
  EXPECT_EQ(back->boot.cmdline, SomeBoot().cmdline);
}

TEST(VmSpecProtoTest, NoVsockStaysNone) {
  VmConfig config = SomeConfig();
  config.vsock.reset();
  absl::StatusOr<VmSpec> back = VmSpecFromProto(VmSpecToProto(config, SomeBoot()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->config.vsock.has_value());
}

TEST(VmSpecProtoTest, AShortMacIsRefused) {
  snapshot::v1::VmSpec proto = VmSpecToProto(SomeConfig(), SomeBoot());
  proto.mutable_network_interfaces(0)->set_mac("12345");
  EXPECT_THAT(VmSpecFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.network_interfaces[0].mac is 5 bytes")));
}

TEST(VmSpecProtoTest, AnUnknownProtocolIsRefused) {
  snapshot::v1::VmSpec proto = VmSpecToProto(SomeConfig(), SomeBoot());
  proto.mutable_boot()->set_protocol("linux16");
  EXPECT_THAT(VmSpecFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("spec.boot.protocol")));
}

TEST(VmSpecProtoTest, MoreE820EntriesThanAZeroPageHoldsAreRefused) {
  snapshot::v1::VmSpec proto = VmSpecToProto(SomeConfig(), SomeBoot());
  for (int i = 0; i < 127; ++i) proto.mutable_boot()->add_e820();
  EXPECT_THAT(VmSpecFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("spec.boot.e820 has 129")));
}

}  // namespace
}  // namespace vmmd
