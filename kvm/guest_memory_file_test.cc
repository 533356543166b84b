#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

UniqueFd TempFile() {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/memory.XXXXXX";
  const int fd = ::mkstemp(path.data());
  ::unlink(path.c_str());
  return UniqueFd(fd);
}

// The 8 bytes at guest `address` (a failure, and 0xdead, if they cannot be read).
uint64_t Word(const GuestMemory& memory, uint64_t address) {
  absl::StatusOr<uint64_t> value = memory.Read<uint64_t>(GuestAddress(address));
  if (!value.ok()) {
    ADD_FAILURE() << value.status();
    return 0xdead;
  }
  return *value;
}

// How much of `region` is resident (mincore).
uint64_t ResidentBytes(const GuestMemoryRegion& region) {
  std::vector<unsigned char> pages(region.size / 4096);
  if (::mincore(region.host, region.size, pages.data()) != 0) {
    ADD_FAILURE() << "mincore failed";
    return ~uint64_t{0};
  }
  uint64_t resident = 0;
  for (unsigned char page : pages) resident += (page & 1) ? 4096 : 0;
  return resident;
}

// Marks at the start and end of RAM below the gap and in RAM above 4 GiB.
void WriteMarks(GuestMemory& memory) {
  ASSERT_OK(memory.Write<uint64_t>(GuestAddress(0), 0x1111));
  ASSERT_OK(memory.Write<uint64_t>(GuestAddress(kMmioGapStart - 8), 0x2222));
  ASSERT_OK(memory.Write<uint64_t>(GuestAddress(kMmioGapEnd), 0x3333));
  ASSERT_OK(memory.Write<uint64_t>(GuestAddress(kMmioGapEnd + 2 * kMiB + 16), 0x4444));
}

void ExpectMarks(const GuestMemory& memory) {
  EXPECT_EQ(Word(memory, 0), 0x1111u);
  EXPECT_EQ(Word(memory, kMmioGapStart - 8), 0x2222u);
  EXPECT_EQ(Word(memory, kMmioGapEnd), 0x3333u);
  EXPECT_EQ(Word(memory, kMmioGapEnd + 2 * kMiB + 16), 0x4444u);
  EXPECT_EQ(Word(memory, kMiB), 0u);
}

class GuestMemoryFileTest : public ::testing::TestWithParam<GuestMemory::FileBacking> {};

TEST_P(GuestMemoryFileTest, RegionsRoundTripThroughASparseFile) {
  const uint64_t size = 3 * kGiB + 4 * kMiB;
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(size));
  WriteMarks(memory);
  UniqueFd file = TempFile();
  ASSERT_TRUE(file.valid());
  ASSERT_OK(memory.WriteToFile(file.get()));
  struct stat st;
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  // Four pages hold data; the rest are holes (a little slack for the filesystem).
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 64 * 4096u);

  ASSERT_OK_AND_ASSIGN(GuestMemory restored, GuestMemory::MapFile(file.get(), size, GetParam()));
  ASSERT_EQ(restored.regions().size(), 2u);
  // Either way the holes cost nothing: the 3 GiB below the gap are not all resident.
  EXPECT_LT(ResidentBytes(restored.regions()[0]), 64 * kMiB);
  EXPECT_EQ(restored.regions()[1].start, GuestAddress(kMmioGapEnd));
  ExpectMarks(restored);
}

TEST_P(GuestMemoryFileTest, TheGuestsWritesNeverReachTheFile) {
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(8 * kMiB));
  ASSERT_OK(memory.Write<uint64_t>(GuestAddress(4096), 0xabcd));
  UniqueFd file = TempFile();
  ASSERT_OK(memory.WriteToFile(file.get()));
  {
    ASSERT_OK_AND_ASSIGN(GuestMemory first, GuestMemory::MapFile(file.get(), 8 * kMiB, GetParam()));
    ASSERT_OK(first.Write<uint64_t>(GuestAddress(4096), 0x5555));
    ASSERT_OK(first.Write<uint64_t>(GuestAddress(5 * kMiB), 0x6666));
    // A second VM from the same file sees the snapshot, not the first one's writes.
    ASSERT_OK_AND_ASSIGN(GuestMemory second, GuestMemory::MapFile(file.get(), 8 * kMiB, GetParam()));
    EXPECT_EQ(Word(second, 4096), 0xabcdu);
    EXPECT_EQ(Word(second, 5 * kMiB), 0u);
  }
  uint64_t on_disk = 0;
  ASSERT_EQ(::pread(file.get(), &on_disk, sizeof(on_disk), 4096), static_cast<ssize_t>(sizeof(on_disk)));
  EXPECT_EQ(on_disk, 0xabcdu);
}

INSTANTIATE_TEST_SUITE_P(Backings, GuestMemoryFileTest,
                         ::testing::Values(GuestMemory::FileBacking::kPrivateMapping,
                                           GuestMemory::FileBacking::kCopy));

TEST(GuestMemoryFileSizeTest, AFileOfAnotherSizeIsRefused) {
  UniqueFd file = TempFile();
  ASSERT_EQ(::ftruncate(file.get(), 8 * kMiB - 4096), 0);
  EXPECT_THAT(GuestMemory::MapFile(file.get(), 8 * kMiB, GuestMemory::FileBacking::kPrivateMapping),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("memory file is 8384512 bytes (a regular file); the guest's memory is 8388608")));
  EXPECT_THAT(GuestMemory::MapFile(file.get(), 4095, GuestMemory::FileBacking::kCopy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 KiB")));
}

}  // namespace
}  // namespace vmmd
