// Drives and the entropy device through VmmService on a real gRPC server: what CreateVm
// refuses (naming the field and the limit), the lock that keeps an image read-write in one
// VM only, and how ConfigureBoot announces the devices (BootInfo.devices and the cmdline).
#include <fcntl.h>
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
using ::vmmd::testing::ServiceWithKvmTest;
using ::vmmd::testing::ServiceWithoutKvmTest;
using Code = grpc::StatusCode;

struct DriveSpec {
  std::string id;
  std::string path;
  bool read_only = false;
  bool root = false;
};

vmm::v1::CreateVmRequest CreateRequest(const std::string& id, const std::vector<DriveSpec>& drives,
                                       bool entropy = false) {
  vmm::v1::CreateVmRequest request;
  request.set_vm_id(id);
  request.set_vcpu_count(1);
  request.set_memory_mib(32);
  for (const DriveSpec& spec : drives) {
    vmm::v1::Drive* drive = request.add_drives();
    drive->set_drive_id(spec.id);
    drive->set_path(spec.path);
    drive->set_read_only(spec.read_only);
    drive->set_is_root_device(spec.root);
  }
  request.set_entropy_device(entropy);
  return request;
}

using DriveValidationTest = ServiceWithoutKvmTest;

TEST_F(DriveValidationTest, EveryDriveFieldIsCheckedAndNamed) {
  auto expect = [&](const std::vector<DriveSpec>& drives, const std::string& text) {
    grpc::Status status = CreateVm(CreateRequest("vm", drives));
    EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT) << text << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text));
  };
  expect({{"", "/i/a.img"}}, "drives[0].drive_id must be 1 to 20 characters; got 0");
  expect({{std::string(21, 'd'), "/i/a.img"}}, "drives[0].drive_id must be 1 to 20 characters; got 21");
  expect({{"a", "/i/a.img"}, {"b c", "/i/b.img"}}, "drives[1].drive_id may hold only [A-Za-z0-9_-]");
  expect({{"a", "/i/a.img"}, {"a", "/i/b.img"}}, "drives[1].drive_id: \"a\" is also drives[0].drive_id");
  expect({{"a", "/i/a.img", false, true}, {"b", "/i/b.img", false, true}},
         "drives[1].is_root_device: at most one drive is the root device");
  expect({{"a", std::string(5000, 'p')}}, "drives[0].path is 5000 bytes; the limit is 4095");
  std::vector<DriveSpec> many;
  for (int i = 0; i < 17; ++i) many.push_back({absl::StrCat("d", i), "/i/a.img"});
  expect(many, "drives: at most 16 per VM; got 17");
}

class DrivesTest : public ServiceWithKvmTest {
 protected:
  // A raw image of `bytes` under the image root.
  std::string MakeImage(const std::string& name, off_t bytes = 1 << 20) {
    const std::string path = Image(name);
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0) << path;
    EXPECT_EQ(::ftruncate(fd, bytes), 0);
    ::close(fd);
    return path;
  }
};

TEST_F(DrivesTest, ImagesOutsideTheRootOrMissingAreRefusedByField) {
  MakeImage("a.img");
  grpc::Status status = CreateVm(CreateRequest("vm", {{"a", Image("a.img")}, {"b", "/etc/hostname"}}));
  EXPECT_EQ(status.error_code(), Code::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("drives[1].path: /etc/hostname is not under an image root"));
  status = CreateVm(CreateRequest("vm", {{"a", Image("missing.img")}}));
  EXPECT_EQ(status.error_code(), Code::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("drives[0].path"));
  // Nothing was left behind: the image the first attempt opened read-write is free.
  EXPECT_TRUE(CreateVm(CreateRequest("vm", {{"a", Image("a.img")}})).ok());
}

TEST_F(DrivesTest, AnImageAttachedReadWriteIsItsOnlyUserUntilTheVmIsDeleted) {
  const std::string image = MakeImage("shared.img");
  ASSERT_TRUE(CreateVm(CreateRequest("writer", {{"disk", image}})).ok());
  for (bool read_only : {false, true}) {
    grpc::Status status =
        CreateVm(CreateRequest("second", {{"disk", image, read_only}}));
    EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("drives[0].path: " + image));
  }
  ASSERT_TRUE(Delete("writer").ok());
  EXPECT_TRUE(CreateVm(CreateRequest("second", {{"disk", image}})).ok());
}

TEST_F(DrivesTest, ReadOnlyAttachmentsShareAnImage) {
  const std::string image = MakeImage("base.img");
  EXPECT_TRUE(CreateVm(CreateRequest("one", {{"base", image, true}})).ok());
  EXPECT_TRUE(CreateVm(CreateRequest("two", {{"base", image, true}})).ok());
}

// With acpi "off" the command line announces the devices, as Linux's virtio_mmio.device=.
TEST_F(DrivesTest, WithoutAcpiDevicesAreAnnouncedInBootInfoAndOnTheCommandLine) {
  const std::string data = MakeImage("data.img");
  const std::string root = MakeImage("root.img");
  vmm::v1::Vm vm;
  // The root drive is listed second but comes first: it must be the guest's /dev/vda.
  ASSERT_TRUE(CreateVm(
                         CreateRequest("vm", {{"data", data}, {"root", root, true, true}},
                                       /*entropy=*/true),
                         &vm)
                  .ok());
  EXPECT_EQ(vm.drives_size(), 2);
  EXPECT_TRUE(vm.entropy_device());
  vmm::v1::BootInfo info;
  ASSERT_TRUE(Configure("vm", Image("hello_guest.elf"), "console=ttyS0", "", &info, "off").ok());
  EXPECT_EQ(info.acpi_rsdp_address(), 0u);
  EXPECT_EQ(info.acpi_tables_size(), 0);
  ASSERT_EQ(info.devices_size(), 3);
  const char* ids[] = {"root", "data", "rng"};
  const char* kinds[] = {"virtio-blk", "virtio-blk", "virtio-rng"};
  const uint32_t irqs[] = {5, 6, 7};
  std::string expected_cmdline = "console=ttyS0";
  for (int i = 0; i < 3; ++i) {
    const vmm::v1::DeviceInfo& device = info.devices(i);
    EXPECT_EQ(device.id(), ids[i]);
    EXPECT_EQ(device.kind(), kinds[i]);
    EXPECT_EQ(device.mmio_address(), 0xc0000000u + 0x1000u * i);
    EXPECT_EQ(device.mmio_size(), 0x1000u);
    EXPECT_EQ(device.irq(), irqs[i]);
    absl::StrAppend(&expected_cmdline, " virtio_mmio.device=4K@0x", absl::Hex(device.mmio_address()),
                    ":", device.irq());
  }
  expected_cmdline += " root=/dev/vda ro";
  EXPECT_EQ(info.cmdline(), expected_cmdline);
  EXPECT_EQ(info.cmdline_size(), expected_cmdline.size() + 1) << "what the guest reads";
  ASSERT_TRUE(Get("vm", &vm).ok());
  EXPECT_EQ(vm.boot_info().cmdline(), expected_cmdline);
  ASSERT_EQ(vm.devices_size(), 3);
  EXPECT_EQ(vm.devices(2).kind(), "virtio-rng");
  EXPECT_EQ(vm.devices(0).requests(), 0u);
}

// With ACPI (the default) the DSDT names the devices: the command line gets root= alone, and
// BootInfo the RSDP and the tables.
TEST_F(DrivesTest, WithAcpiTheCommandLineGetsOnlyTheRoot) {
  const std::string root = MakeImage("root.img");
  ASSERT_TRUE(CreateVm(CreateRequest("vm", {{"root", root, true, true}}, /*entropy=*/true)).ok());
  vmm::v1::BootInfo info;
  ASSERT_TRUE(Configure("vm", Image("hello_guest.elf"), "console=ttyS0", "", &info).ok());
  EXPECT_EQ(info.devices_size(), 2);
  EXPECT_EQ(info.cmdline(), "console=ttyS0 root=/dev/vda ro");
  EXPECT_EQ(info.acpi_rsdp_address(), 0xe0000u);
  std::vector<std::string> signatures;
  for (const vmm::v1::AcpiTable& table : info.acpi_tables()) {
    signatures.push_back(table.signature());
    EXPECT_GE(table.address(), 0xe0000u);
    EXPECT_LE(table.address() + table.length(), 0x100000u);
  }
  EXPECT_THAT(signatures, ::testing::ElementsAre("RSDP", "DSDT", "FACP", "APIC", "XSDT"));
  vmm::v1::Vm vm;
  ASSERT_TRUE(Get("vm", &vm).ok());
  EXPECT_EQ(vm.boot_info().acpi_tables_size(), 5);
}

TEST_F(DrivesTest, AcpiIsOnOrOff) {
  ASSERT_TRUE(CreateVm(CreateRequest("vm", {})).ok());
  grpc::Status status = Configure("vm", Image("hello_guest.elf"), "console=ttyS0", "", nullptr, "yes");
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("acpi \"yes\" is not one of on, off"));
  EXPECT_TRUE(Configure("vm", Image("hello_guest.elf"), "console=ttyS0", "", nullptr, "on").ok());
}

TEST_F(DrivesTest, TheCommandLineLimitCountsWhatVmmdAppends) {
  MakeImage("root.img");
  ASSERT_TRUE(CreateVm(CreateRequest("vm", {{"root", Image("root.img"), false, true}}, true)).ok());
  // 2000 bytes fit an ELF kernel's 2047 alone, not with the devices' parts (acpi "off").
  grpc::Status status =
      Configure("vm", Image("hello_guest.elf"), std::string(2000, 'x'), "", nullptr, "off");
  EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("2047"));
  EXPECT_THAT(status.error_message(), HasSubstr("vmmd appends"));
  EXPECT_TRUE(Configure("vm", Image("hello_guest.elf"), std::string(1900, 'x'), "", nullptr, "off").ok());
}

}  // namespace
}  // namespace vmmd
