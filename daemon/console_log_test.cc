// ConsoleLog: the rate limit, the bounded backlog, the cap with one rotated file, a full disk,
// and that a stalled write never holds up Append (the vCPU thread's side).
#include "daemon/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::Span<const uint8_t> Bytes(const std::string& text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

class ConsoleLogTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) {
    return absl::StrCat(::testing::TempDir(), "/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", name);
  }
};

TEST_F(ConsoleLogTest, BeyondTheRateIsDroppedAndCounted) {
  ConsoleLogLimits limits;
  limits.rate_bytes = 1000;
  limits.burst_bytes = 4096;
  const std::string path = Path("rate.log");
  auto log = ConsoleLog::Open(path, limits);
  ASSERT_TRUE(log.ok()) << log.status();
  const absl::Time start = absl::Now();
  (*log)->Append(Bytes(std::string(10000, 'a')), start);  // the burst passes, the rest not
  (*log)->Append(Bytes(std::string(3000, 'b')), start + absl::Seconds(2));  // 2 s: 2000 more
  (*log)->Flush();
  const ConsoleLogStats stats = (*log)->Stats();
  EXPECT_EQ(stats.written_bytes, 4096u + 2000u);
  EXPECT_EQ(stats.rate_dropped_bytes, 10000u - 4096u + 1000u);
  EXPECT_EQ(ReadFile(path), std::string(4096, 'a') + std::string(2000, 'b'));
}

TEST_F(ConsoleLogTest, TheBacklogIsBoundedUntilTheWorkerFlushes) {
  ConsoleLogLimits limits;
  limits.rate_bytes = 0;  // no rate limit
  limits.backlog_bytes = 1024;
  const std::string path = Path("backlog.log");
  auto log = ConsoleLog::Open(path, limits);
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Append(Bytes(std::string(5000, 'x')));
  EXPECT_EQ((*log)->Stats().backlog_dropped_bytes, 5000u - 1024u);
  (*log)->Flush();
  (*log)->Append(Bytes(std::string(1000, 'y')));  // room again
  (*log)->Flush();
  EXPECT_EQ((*log)->Stats().written_bytes, 2024u);
  EXPECT_EQ(ReadFile(path).size(), 2024u);
}

TEST_F(ConsoleLogTest, CappedWithOneRotatedFileHoldingTheNewestBytes) {
  ConsoleLogLimits limits;
  limits.rate_bytes = 0;
  limits.max_bytes = 1000;
  const std::string path = Path("cap.log");
  auto log = ConsoleLog::Open(path, limits);
  ASSERT_TRUE(log.ok()) << log.status();
  std::string all;
  for (int i = 0; i < 25; ++i) {
    const std::string line = absl::StrCat("line ", 100 + i, " ", std::string(90, 'z'), "\n");
    all += line;
    (*log)->Append(Bytes(line));
    if (i % 3 == 0) (*log)->Flush();
  }
  (*log)->Flush();
  const ConsoleLogStats stats = (*log)->Stats();
  EXPECT_EQ(stats.written_bytes, all.size());
  const std::string current = ReadFile(path), previous = ReadFile(path + ".1");
  EXPECT_LE(current.size(), limits.max_bytes);
  EXPECT_EQ(previous.size(), limits.max_bytes);
  EXPECT_EQ(stats.rotations, all.size() / limits.max_bytes);
  // Together, the newest bytes, in order.
  EXPECT_EQ(previous + current, all.substr(all.size() - previous.size() - current.size()));
}

TEST_F(ConsoleLogTest, AFullDiskIsCountedNotFatal) {
  ConsoleLogLimits limits;
  limits.rate_bytes = 0;
  auto log = ConsoleLog::Open("/dev/full", limits);
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Append(Bytes("hello"));
  (*log)->Flush();
  const ConsoleLogStats stats = (*log)->Stats();
  EXPECT_EQ(stats.written_bytes, 0u);
  EXPECT_EQ(stats.write_errors, 1u);
  EXPECT_EQ(stats.lost_bytes, 5u);
}

TEST_F(ConsoleLogTest, OpenRefusesASymlink) {
  const std::string link = Path("link.log");
  ASSERT_EQ(::symlink("/etc/passwd", link.c_str()), 0);
  auto log = ConsoleLog::Open(link, ConsoleLogLimits());
  EXPECT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find(link), std::string::npos) << log.status();
}

// A disk that stops taking writes (a FIFO nobody reads) stalls Flush, never Append.
TEST_F(ConsoleLogTest, AStalledWriteNeverHoldsUpAppend) {
  const std::string fifo = Path("stalled.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  ConsoleLogLimits limits;
  limits.rate_bytes = 0;
  limits.backlog_bytes = 4 << 20;
  auto log = ConsoleLog::Open(fifo, limits);
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Append(Bytes(std::string(1 << 20, 'f')));  // far more than a pipe holds
  std::atomic<bool> flushed{false};
  std::thread flusher([&] {
    (*log)->Flush();
    flushed = true;
  });
  ::usleep(100 * 1000);
  ASSERT_FALSE(flushed) << "the write should be stuck on the full pipe";
  for (int i = 0; i < 10000; ++i) (*log)->Append(Bytes("v"));  // the vCPU thread goes on
  EXPECT_FALSE(flushed);
  // Drain the pipe: the flush completes.
  char buffer[65536];
  size_t drained = 0;
  while (!flushed || drained < (1u << 20)) {
    const ssize_t got = ::read(reader, buffer, sizeof(buffer));
    if (got > 0) drained += static_cast<size_t>(got);
    else ::usleep(1000);
  }
  flusher.join();
  EXPECT_EQ(drained, 1u << 20);
  EXPECT_EQ((*log)->Stats().written_bytes, 1u << 20);
  ::close(reader);
}

}  // namespace
}  // namespace vmmd
