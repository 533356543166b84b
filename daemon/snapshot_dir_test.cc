#include "daemon/snapshot_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

class SnapshotDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = std::string(getenv("TEST_TMPDIR")) + "/snapXXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
  }

  std::string ReadFile(const std::string& path) {
    std::string data(100, '\0');
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return "<missing>";
    data.resize(static_cast<size_t>(read(fd, data.data(), data.size())));
    close(fd);
    return data;
  }

  std::string base_;
  std::string root_;
};

TEST_F(SnapshotDirTest, CreatesTheDirectoryAndReplacesFilesOnlyAtCommit) {
  absl::StatusOr<SnapshotDir> dir = SnapshotDir::Open(root_ + "/a", root_, true, "snapshot_dir");
  ASSERT_TRUE(dir.ok()) << dir.status();
  for (const char* content : {"first", "second"}) {
    absl::StatusOr<UniqueFd> file = dir->CreateFile("state");
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_EQ(write(file->get(), content, strlen(content)), static_cast<ssize_t>(strlen(content)));
    // Until Commit, readers see the old file (or none).
    EXPECT_NE(ReadFile(root_ + "/a/state"), content);
    ASSERT_THAT(dir->Commit("state", *file), IsOk());
    EXPECT_EQ(ReadFile(root_ + "/a/state"), content);
  }
  EXPECT_EQ(ReadFile(root_ + "/a/state.partial"), "<missing>");
  EXPECT_THAT(dir->OpenFile("state"), IsOk());
}

TEST_F(SnapshotDirTest, DiscardRemovesWhatFailed) {
  absl::StatusOr<SnapshotDir> dir = SnapshotDir::Open(root_ + "/b", root_, true, "snapshot_dir");
  ASSERT_TRUE(dir.ok()) << dir.status();
  ASSERT_TRUE(dir->CreateFile("memory").ok());
  dir->Discard("memory");
  EXPECT_EQ(ReadFile(root_ + "/b/memory.partial"), "<missing>");
  EXPECT_THAT(dir->OpenFile("memory"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("not a snapshot")));
}

TEST_F(SnapshotDirTest, AWriterExcludesEveryoneAndReadersExcludeWriters) {
  absl::StatusOr<SnapshotDir> writer = SnapshotDir::Open(root_ + "/l", root_, true, "snapshot_dir");
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_THAT(writer->Lock(true), IsOk());
  {
    absl::StatusOr<SnapshotDir> reader = SnapshotDir::Open(root_ + "/l", root_, false, "snapshot_dir");
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_THAT(reader->Lock(false), StatusIs(absl::StatusCode::kAborted, HasSubstr("being written")));
    EXPECT_THAT(reader->Lock(true), StatusIs(absl::StatusCode::kAborted, HasSubstr("in use")));
  }
  writer = absl::InternalError("closed");  // the lock goes with the directory's fd
  absl::StatusOr<SnapshotDir> reader1 = SnapshotDir::Open(root_ + "/l", root_, false, "snapshot_dir");
  absl::StatusOr<SnapshotDir> reader2 = SnapshotDir::Open(root_ + "/l", root_, false, "snapshot_dir");
  ASSERT_TRUE(reader1.ok() && reader2.ok());
  EXPECT_THAT(reader1->Lock(false), IsOk());
  EXPECT_THAT(reader2->Lock(false), IsOk());
  absl::StatusOr<SnapshotDir> late_writer = SnapshotDir::Open(root_ + "/l", root_, true, "snapshot_dir");
  ASSERT_TRUE(late_writer.ok());
  EXPECT_THAT(late_writer->Lock(true), StatusIs(absl::StatusCode::kAborted, HasSubstr("in use")));
}

TEST_F(SnapshotDirTest, NoRootMeansNoSnapshots) {
  EXPECT_THAT(SnapshotDir::Open(root_ + "/a", "", true, "snapshot_dir"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--snapshot_root")));
}

TEST_F(SnapshotDirTest, PathsOutsideTheRootAreRefused) {
  EXPECT_THAT(SnapshotDir::Open(base_ + "/elsewhere", root_, true, "snapshot_dir"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("snapshot_dir")));
  EXPECT_THAT(SnapshotDir::Open(root_, root_, true, "snapshot_dir"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not under")));
  EXPECT_THAT(SnapshotDir::Open(root_ + "/../x", root_, true, "snapshot_dir"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not canonical")));
  EXPECT_THAT(SnapshotDir::Open("relative", root_, true, "snapshot_dir"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  // A symlink inside the root that leads out of it.
  ASSERT_EQ(mkdir((base_ + "/outside").c_str(), 0700), 0);
  ASSERT_EQ(symlink((base_ + "/outside").c_str(), (root_ + "/link").c_str()), 0);
  EXPECT_THAT(SnapshotDir::Open(root_ + "/link", root_, true, "snapshot_dir"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("outside")));
  EXPECT_THAT(SnapshotDir::Open(root_ + "/link/new", root_, true, "snapshot_dir"),
              ::testing::Not(IsOk()));
  struct stat info;
  EXPECT_NE(stat((base_ + "/outside/new").c_str(), &info), 0);
}

TEST_F(SnapshotDirTest, AMissingDirectoryIsNotFoundWhenNotCreated) {
  EXPECT_THAT(SnapshotDir::Open(root_ + "/none", root_, false, "snapshot_dir"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
}

TEST_F(SnapshotDirTest, AFileIsNotADirectory) {
  close(open((root_ + "/file").c_str(), O_CREAT | O_WRONLY, 0600));
  EXPECT_THAT(SnapshotDir::Open(root_ + "/file", root_, false, "snapshot_dir"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a directory")));
}

}  // namespace
}  // namespace vmmd
