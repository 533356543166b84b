#include "tests/linux/cpio_archive.h"

#include <string>

#include "gtest/gtest.h"

namespace vmmd::testing {
namespace {

TEST(CpioArchiveTest, NewcEntriesArePaddedToFourBytesAndEndWithTheTrailer) {
  CpioArchive archive;
  archive.AddFile("init", "abcde", 0755);
  const std::string bytes = std::move(archive).Finish();
  // Header: 110 bytes; "init\0" makes 115, padded to 116; 5 bytes of data padded to 8.
  ASSERT_GE(bytes.size(), 124u);
  EXPECT_EQ(bytes.substr(0, 6), "070701");
  EXPECT_EQ(bytes.substr(14, 8), "000081ED");  // S_IFREG | 0755
  EXPECT_EQ(bytes.substr(54, 8), "00000005");  // filesize
  EXPECT_EQ(bytes.substr(94, 8), "00000005");  // namesize, with the NUL
  EXPECT_EQ(bytes.substr(110, 6), std::string("init\0\0", 6));
  EXPECT_EQ(bytes.substr(116, 8), std::string("abcde\0\0\0", 8));
  EXPECT_EQ(bytes.substr(124, 6), "070701");
  EXPECT_NE(bytes.find(std::string("TRAILER!!!\0", 11), 124), std::string::npos);
  EXPECT_EQ(bytes.size() % 4, 0u);
}

TEST(CpioArchiveTest, DevicesCarryTheirNumbers) {
  CpioArchive archive;
  archive.AddCharDevice("dev/console", 5, 1);
  const std::string bytes = std::move(archive).Finish();
  EXPECT_EQ(bytes.substr(14, 8), "00002180");  // S_IFCHR | 0600
  EXPECT_EQ(bytes.substr(78, 8), "00000005");  // rdevmajor
  EXPECT_EQ(bytes.substr(86, 8), "00000001");  // rdevminor
}

}  // namespace
}  // namespace vmmd::testing
