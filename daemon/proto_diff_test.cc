#include "daemon/proto_diff.h"

#include "gtest/gtest.h"
#include "vmm/v1/vmm.pb.h"

namespace vmmd {
namespace {

vmm::v1::RunVmRequest Request() {
  vmm::v1::RunVmRequest request;
  vmm::v1::CreateVmRequest* create = request.mutable_create();
  create->set_vm_id("web-1");
  create->set_vcpu_count(2);
  create->set_memory_mib(256);
  vmm::v1::Drive* drive = create->add_drives();
  drive->set_drive_id("root");
  drive->set_path("/images/root.img");
  (*create->mutable_labels())["app"] = "web";
  (*create->mutable_labels())["tier"] = "front";
  request.mutable_boot()->set_kernel_path("/images/vmlinux");
  request.set_start(true);
  return request;
}

TEST(FirstDifferenceTest, EqualMessagesHaveNone) {
  EXPECT_EQ(FirstDifference(Request(), Request()), "");
  EXPECT_EQ(FirstDifference(vmm::v1::RunVmRequest(), vmm::v1::RunVmRequest()), "");
}

TEST(FirstDifferenceTest, NamesTheFirstFieldThatDiffers) {
  const vmm::v1::RunVmRequest base = Request();
  vmm::v1::RunVmRequest other = base;
  other.mutable_create()->set_memory_mib(512);
  other.set_start(false);
  EXPECT_EQ(FirstDifference(base, other), "create.memory_mib") << "declaration order, nested first";

  other = base;
  other.mutable_create()->mutable_drives(0)->set_path("/images/other.img");
  EXPECT_EQ(FirstDifference(base, other), "create.drives[0].path");

  other = base;
  other.mutable_create()->add_drives()->set_drive_id("data");
  EXPECT_EQ(FirstDifference(base, other), "create.drives[1]") << "the index one side lacks";

  other = base;
  (*other.mutable_create()->mutable_labels())["tier"] = "back";
  EXPECT_EQ(FirstDifference(base, other), "create.labels[\"tier\"]");

  other = base;
  other.mutable_create()->mutable_labels()->erase("app");
  EXPECT_EQ(FirstDifference(base, other), "create.labels[\"app\"]");

  other = base;
  other.mutable_boot()->set_cmdline("console=ttyS0");
  EXPECT_EQ(FirstDifference(base, other), "boot.cmdline");

  other = base;
  other.clear_boot();
  EXPECT_EQ(FirstDifference(base, other), "boot") << "present against absent";

  other = base;
  other.set_start(false);
  EXPECT_EQ(FirstDifference(base, other), "start");
}

}  // namespace
}  // namespace vmmd
