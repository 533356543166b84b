#include "daemon/drive_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

class DriveFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = std::string(::getenv("TEST_TMPDIR")) + "/drivesXXXXXX";
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    char* canonical = ::realpath(base.c_str(), nullptr);
    root_ = canonical;
    ::free(canonical);
    image_ = root_ + "/disk.img";
    int fd = ::open(image_.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
  }

  absl::StatusOr<UniqueFd> Open(const std::string& path, bool read_only) {
    std::vector<std::string> roots = {root_};
    return OpenDriveImage(path, roots, read_only, "drives[0].path");
  }

  std::string root_;
  std::string image_;
};

TEST_F(DriveFileTest, AReadWriteDriveIsItsImagesOnlyUser) {
  ASSERT_OK_AND_ASSIGN(UniqueFd writer, Open(image_, /*read_only=*/false));
  EXPECT_EQ(::fcntl(writer.get(), F_GETFL) & O_ACCMODE, O_RDWR);
  absl::StatusOr<UniqueFd> second = Open(image_, /*read_only=*/false);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("drives[0].path"), absl::string_view::npos)
      << second.status();
  EXPECT_EQ(Open(image_, /*read_only=*/true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  writer.Reset();  // the VM is gone: its lock with it
  EXPECT_OK(Open(image_, /*read_only=*/false).status());
}

TEST_F(DriveFileTest, ReadOnlyDrivesShareAnImageButNotWithAWriter) {
  ASSERT_OK_AND_ASSIGN(UniqueFd first, Open(image_, /*read_only=*/true));
  EXPECT_EQ(::fcntl(first.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  ASSERT_OK_AND_ASSIGN(UniqueFd second, Open(image_, /*read_only=*/true));
  EXPECT_EQ(Open(image_, /*read_only=*/false).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DriveFileTest, ImagesOutsideTheRootsAreRefused) {
  EXPECT_EQ(Open("/etc/hostname", false).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(::symlink("/etc/hostname", (root_ + "/escape").c_str()), 0);
  EXPECT_EQ(Open(root_ + "/escape", false).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Open(root_ + "/missing", false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Open(root_, false).status().code(), absl::StatusCode::kPermissionDenied)
      << "the root itself is not a file under it";
  EXPECT_EQ(Open("disk.img", false).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmmd
