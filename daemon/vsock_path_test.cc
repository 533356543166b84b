#include "daemon/vsock_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

TEST(VsockPathTest, SyntaxIsCheckedAndNamed) {
  EXPECT_OK(CheckVsockPathSyntax("/run/vmmd/vsock/vm1.sock", "vsock.uds_path"));
  const struct {
    std::string path;
    const char* why;
  } bad[] = {{"", "is empty"},
             {"vm1.sock", "must be an absolute path"},
             {"/run/vmmd/vsock/", "must name a socket"},
             {"/run/vmmd/../etc/x", "\"..\""},
             {"/run/./x", "\".\""},
             {std::string("/run/x\0y", 8), "NUL"},
             {"/" + std::string(100, 'a'), "is 101 bytes; the limit is"}};
  for (const auto& [path, why] : bad) {
    EXPECT_THAT(CheckVsockPathSyntax(path, "vsock.uds_path"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vsock.uds_path: ")))
        << path;
    EXPECT_THAT(CheckVsockPathSyntax(path, "f"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << path;
  }
}

class VsockRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                          "/vsock-root-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    char* real = ::realpath(pattern.c_str(), nullptr);
    base_ = real;
    ::free(real);
    root_ = base_ + "/root";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root_ + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((base_ + "/outside").c_str(), 0755), 0);
    ASSERT_EQ(::symlink((base_ + "/outside").c_str(), (root_ + "/escape").c_str()), 0);
    ASSERT_EQ(::mkdir((root_ + "ish").c_str(), 0755), 0);  // a sibling: ".../rootish"
  }
  std::string base_, root_;
};

TEST_F(VsockRootTest, OnlyEntriesOfDirectoriesUnderTheRoot) {
  EXPECT_OK(CheckVsockPathUnderRoot(root_ + "/vm.sock", root_, "vsock.uds_path"));
  EXPECT_OK(CheckVsockPathUnderRoot(root_ + "/sub/vm.sock", root_, "vsock.uds_path"));
  EXPECT_THAT(CheckVsockPathUnderRoot(base_ + "/outside/vm.sock", root_, "vsock.uds_path"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("is not under the vsock root")));
  EXPECT_THAT(CheckVsockPathUnderRoot(root_ + "/escape/vm.sock", root_, "vsock.uds_path"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not under")))
      << "a symlink out of the root";
  EXPECT_OK(CheckVsockPathUnderRoot(root_ + "ish/vm.sock", root_ + "ish", "f"));
  EXPECT_THAT(CheckVsockPathUnderRoot(root_ + "ish/vm.sock", root_, "f"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not under")))
      << "a sibling sharing the root's prefix";
  EXPECT_THAT(CheckVsockPathUnderRoot(root_ + "/missing/vm.sock", root_, "vsock.uds_path"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("vsock.uds_path: no directory")));
  EXPECT_THAT(CheckVsockPathUnderRoot(root_ + "/vm.sock", "", "vsock.uds_path"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--vsock_root")));
}

}  // namespace
}  // namespace vmmd
