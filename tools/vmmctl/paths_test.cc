#include "tools/vmmctl/paths.h"

#include "gtest/gtest.h"

namespace vmmctl {
namespace {

TEST(MakeAbsoluteTest, RelativePathJoinsWorkingDirectory) {
  EXPECT_EQ(MakeAbsolute("vmlinux", "/home/me/images"), "/home/me/images/vmlinux");
  EXPECT_EQ(MakeAbsolute("./out/vmlinux", "/home/me"), "/home/me/out/vmlinux");
}

TEST(MakeAbsoluteTest, DotDotClimbsFromWorkingDirectory) {
  EXPECT_EQ(MakeAbsolute("../images/bzImage", "/home/me/src"), "/home/me/images/bzImage");
  EXPECT_EQ(MakeAbsolute("../../../../x", "/a/b"), "/x");
}

TEST(MakeAbsoluteTest, AbsolutePathIsOnlyCleaned) {
  EXPECT_EQ(MakeAbsolute("/srv/images/vmlinux", "/home/me"), "/srv/images/vmlinux");
  EXPECT_EQ(MakeAbsolute("/srv//images/./vmlinux", "/home/me"), "/srv/images/vmlinux");
  EXPECT_EQ(MakeAbsolute("/srv/images/../vmlinux", "/home/me"), "/srv/vmlinux");
}

TEST(MakeAbsoluteTest, EmptyStaysEmptyAndRootStaysRoot) {
  EXPECT_EQ(MakeAbsolute("", "/home/me"), "");
  EXPECT_EQ(MakeAbsolute(".", "/"), "/");
  EXPECT_EQ(MakeAbsolute("kernel", "/"), "/kernel");
}

}  // namespace
}  // namespace vmmctl
