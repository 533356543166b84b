// Network interfaces (virtio-net over a tap) through VmmService on a real gRPC server: what
// CreateVm refuses (naming the field and the limit), the tap vmmd creates for a VM and removes
// with it, a tap in use refused, the guest's addresses (given, or generated and stable), and
// the devices in BootInfo and GetVm. Creates taps: root, or CAP_NET_ADMIN in a network
// namespace of the test's own (tag block-network where Bazel's sandbox runs it).
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/service_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::vmmd::testing::ServiceWithKvmTest;
using ::vmmd::testing::ServiceWithoutKvmTest;
using Code = grpc::StatusCode;

struct InterfaceSpec {
  std::string id;
  std::string tap;
  std::string mac;
};

vmm::v1::CreateVmRequest CreateRequest(const std::string& id, const std::vector<InterfaceSpec>& interfaces) {
  vmm::v1::CreateVmRequest request;
  request.set_vm_id(id);
  request.set_vcpu_count(1);
  request.set_memory_mib(32);
  for (const InterfaceSpec& spec : interfaces) {
    vmm::v1::NetworkInterface* interface = request.add_network_interfaces();
    interface->set_iface_id(spec.id);
    interface->set_host_dev_name(spec.tap);
    interface->set_guest_mac(spec.mac);
  }
  return request;
}

bool InterfaceExists(const std::string& name) {
  return ::access(("/sys/class/net/" + name).c_str(), F_OK) == 0;
}

using NetworkValidationTest = ServiceWithoutKvmTest;

TEST_F(NetworkValidationTest, EveryInterfaceFieldIsCheckedAndNamed) {
  auto expect = [&](const vmm::v1::CreateVmRequest& request, const std::string& text) {
    grpc::Status status = CreateVm(request);
    EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT) << text << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text));
  };
  expect(CreateRequest("vm", {{"", "tap0"}}), "network_interfaces[0].iface_id must be 1 to 20 characters; got 0");
  expect(CreateRequest("vm", {{"a", "tap0"}, {"b/c", "tap1"}}),
         "network_interfaces[1].iface_id may hold only [A-Za-z0-9_-]");
  expect(CreateRequest("vm", {{"a", "tap0"}, {"a", "tap1"}}),
         "network_interfaces[1].iface_id: \"a\" is also network_interfaces[0].iface_id");
  expect(CreateRequest("vm", {{"a", ""}}), "network_interfaces[0].host_dev_name: tap interface name is empty");
  expect(CreateRequest("vm", {{"a", std::string(16, 't')}}),
         "network_interfaces[0].host_dev_name: tap interface name \"tttttttttttttttt\" is 16 bytes; Linux allows at most 15");
  expect(CreateRequest("vm", {{"a", "../tap"}}), "network_interfaces[0].host_dev_name: tap interface name");
  expect(CreateRequest("vm", {{"a", "tap0"}, {"b", "tap0"}}),
         "network_interfaces[1].host_dev_name: \"tap0\" is also network_interfaces[0].host_dev_name");
  expect(CreateRequest("vm", {{"a", "tap0", "01:02:03:04:05:06"}}),
         "network_interfaces[0].guest_mac: is a multicast address");
  expect(CreateRequest("vm", {{"a", "tap0", "02:02:03:04:05"}}),
         "network_interfaces[0].guest_mac: must be six hex bytes");
  std::vector<InterfaceSpec> many;
  for (int i = 0; i < 9; ++i) many.push_back({absl::StrCat("n", i), absl::StrCat("tap", i)});
  expect(CreateRequest("vm", many), "network_interfaces: at most 8 per VM; got 9");
  // Every kind together is held to the IRQ lines.
  vmm::v1::CreateVmRequest crowded = CreateRequest("vm", {{"n0", "tap0"}, {"n1", "tap1"}});
  for (int i = 0; i < 16; ++i) {
    vmm::v1::Drive* drive = crowded.add_drives();
    drive->set_drive_id(absl::StrCat("d", i));
    drive->set_path("/i/a.img");
  }
  expect(crowded, "at most 17 devices per VM (one IRQ line each); got 18");
}

using NetworkTest = ServiceWithKvmTest;

TEST_F(NetworkTest, ATapIsCreatedForTheVmAndRemovedWithIt) {
  const std::string tap = absl::StrCat("vmmdt", ::getpid() % 100000);
  ASSERT_FALSE(InterfaceExists(tap));
  vmm::v1::Vm vm;
  grpc::Status status = CreateVm(CreateRequest("net", {{"eth0", tap, "02:AA:bb:cc:dd:01"}, {"eth1", tap + "b"}}), &vm);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(InterfaceExists(tap));
  EXPECT_TRUE(InterfaceExists(tap + "b"));
  ASSERT_EQ(vm.network_interfaces_size(), 2);
  EXPECT_EQ(vm.network_interfaces(0).guest_mac(), "02:aa:bb:cc:dd:01") << "as given, printed in lower case";
  EXPECT_EQ(vm.network_interfaces(0).host_dev_name(), tap);
  const std::string generated = vm.network_interfaces(1).guest_mac();
  EXPECT_THAT(generated, MatchesRegex("[0-9a-f][26ae](:[0-9a-f][0-9a-f]){5}")) << "locally administered unicast";

  // A tap serves one VM.
  status = CreateVm(CreateRequest("other", {{"eth0", tap}}));
  EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("network_interfaces[0].host_dev_name"));

  vmm::v1::BootInfo info;
  ASSERT_TRUE(Configure("net", Image("hello_guest.elf"), "console=ttyS0", "", &info, "off").ok());
  ASSERT_EQ(info.devices_size(), 2);
  EXPECT_EQ(info.devices(0).id(), "eth0");
  EXPECT_EQ(info.devices(0).kind(), "virtio-net");
  EXPECT_EQ(info.devices(1).id(), "eth1");
  EXPECT_THAT(info.cmdline(), HasSubstr(absl::StrCat("virtio_mmio.device=4K@0x", absl::Hex(info.devices(1).mmio_address()))));
  ASSERT_TRUE(Get("net", &vm).ok());
  ASSERT_EQ(vm.devices_size(), 2);
  EXPECT_EQ(vm.devices(0).kind(), "virtio-net");
  EXPECT_EQ(vm.devices(0).packets_sent(), 0u);

  ASSERT_TRUE(Delete("net").ok());
  EXPECT_FALSE(InterfaceExists(tap)) << "a tap vmmd created goes with the VM";
  EXPECT_FALSE(InterfaceExists(tap + "b"));

  // The same request again: the generated address is the same, and the tap is free again.
  ASSERT_TRUE(CreateVm(CreateRequest("net", {{"eth0", tap}, {"eth1", tap + "b"}}), &vm).ok());
  EXPECT_EQ(vm.network_interfaces(1).guest_mac(), generated);
  EXPECT_NE(vm.network_interfaces(0).guest_mac(), generated) << "two interfaces, two addresses";
}

TEST_F(NetworkTest, AFailedCreateLeavesNoTapBehind) {
  const std::string tap = absl::StrCat("vmmdf", ::getpid() % 100000);
  // The second interface names the loopback device, which is not a tap: refused after the
  // first tap was made.
  grpc::Status status = CreateVm(CreateRequest("net", {{"eth0", tap}, {"eth1", "lo"}}));
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("network_interfaces[1].host_dev_name"));
  EXPECT_FALSE(InterfaceExists(tap));
  vmm::v1::Vm vm;
  EXPECT_EQ(Get("net", &vm).error_code(), Code::NOT_FOUND);
}

}  // namespace
}  // namespace vmmd
