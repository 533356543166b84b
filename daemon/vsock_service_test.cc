// The vsock device through VmmService on a real gRPC server: what CreateVm refuses (naming
// the field and the limit), the socket vmmd makes under --vsock_root for a VM and removes
// with it, a path in use or outside the root refused, and the device in BootInfo and GetVm.
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <string>

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

vmm::v1::CreateVmRequest CreateRequest(const std::string& id, uint32_t cid, const std::string& path) {
  vmm::v1::CreateVmRequest request;
  request.set_vm_id(id);
  request.set_vcpu_count(1);
  request.set_memory_mib(32);
  request.mutable_vsock()->set_guest_cid(cid);
  request.mutable_vsock()->set_uds_path(path);
  return request;
}

bool IsSocket(const std::string& path) {
  struct stat info;
  return ::lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

using VsockValidationTest = ServiceWithoutKvmTest;

TEST_F(VsockValidationTest, EveryVsockFieldIsCheckedAndNamed) {
  auto expect = [&](const vmm::v1::CreateVmRequest& request, const std::string& text) {
    grpc::Status status = CreateVm(request);
    EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT) << text << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text));
  };
  expect(CreateRequest("vm", 2, "/run/v.sock"), "vsock.guest_cid must be 3 to 4294967294");
  expect(CreateRequest("vm", 0xffffffffu, "/run/v.sock"), "vsock.guest_cid must be 3 to 4294967294");
  expect(CreateRequest("vm", 3, ""), "vsock.uds_path: is empty");
  expect(CreateRequest("vm", 3, "v.sock"), "vsock.uds_path: must be an absolute path");
  expect(CreateRequest("vm", 3, "/run/../v.sock"), "vsock.uds_path: must not hold");
  expect(CreateRequest("vm", 3, "/" + std::string(120, 'v')), "vsock.uds_path: is 121 bytes; the limit is");
}

class VsockTest : public ServiceWithKvmTest {
 protected:
  void AdjustOptions(VmManagerOptions& options) override {
    const std::string root = dir_ + "/vsock";
    ASSERT_EQ(::mkdir(root.c_str(), 0750), 0);
    std::unique_ptr<char, decltype(&::free)> canonical(::realpath(root.c_str(), nullptr), &::free);
    ASSERT_NE(canonical, nullptr);
    vsock_root_ = canonical.get();
    options.vsock_root = vsock_root_;
  }
  std::string vsock_root_;
};

TEST_F(VsockTest, TheSocketIsMadeForTheVmAndRemovedWithIt) {
  const std::string path = vsock_root_ + "/vm.sock";
  vmm::v1::Vm vm;
  grpc::Status status = CreateVm(CreateRequest("vs", 42, path), &vm);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(IsSocket(path));
  EXPECT_EQ(vm.vsock().guest_cid(), 42u);
  EXPECT_EQ(vm.vsock().uds_path(), path);

  // One socket, one VM.
  status = CreateVm(CreateRequest("other", 43, path));
  EXPECT_EQ(status.error_code(), Code::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("vsock.uds_path"));

  vmm::v1::BootInfo info;
  ASSERT_TRUE(Configure("vs", Image("hello_guest.elf"), "console=ttyS0", "", &info).ok());
  ASSERT_EQ(info.devices_size(), 1);
  EXPECT_EQ(info.devices(0).id(), "vsock");
  EXPECT_EQ(info.devices(0).kind(), "virtio-vsock");
  ASSERT_TRUE(Get("vs", &vm).ok());
  ASSERT_EQ(vm.devices_size(), 1);
  EXPECT_EQ(vm.devices(0).kind(), "virtio-vsock");

  ASSERT_TRUE(Delete("vs").ok());
  EXPECT_FALSE(IsSocket(path)) << "removed with the VM";
  EXPECT_TRUE(CreateVm(CreateRequest("other", 43, path)).ok()) << "and free again";
}

TEST_F(VsockTest, PathsOutsideTheRootOrMissingAreRefused) {
  grpc::Status status = CreateVm(CreateRequest("vs", 42, dir_ + "/v.sock"));
  EXPECT_EQ(status.error_code(), Code::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("vsock.uds_path: " + dir_ + "/v.sock is not under the vsock root"));
  status = CreateVm(CreateRequest("vs", 42, vsock_root_ + "/missing/v.sock"));
  EXPECT_EQ(status.error_code(), Code::NOT_FOUND) << status.error_message();
  EXPECT_FALSE(IsSocket(dir_ + "/v.sock"));
  vmm::v1::Vm vm;
  EXPECT_EQ(Get("vs", &vm).error_code(), Code::NOT_FOUND) << "nothing left behind";
}

}  // namespace
}  // namespace vmmd
