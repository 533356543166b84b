#include "devices/console_buffer.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

absl::Span<const uint8_t> Bytes(absl::string_view text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(ConsoleBufferTest, AppendThenReadFromAnyOffset) {
  ConsoleBuffer buffer(64);
  buffer.Append(Bytes("hello, "));
  buffer.Append(Bytes("world"));
  EXPECT_EQ(buffer.total_written(), 12u);

  ConsoleBuffer::Chunk all = buffer.Read(0, 100);
  EXPECT_EQ(all.data, "hello, world");
  EXPECT_EQ(all.offset, 0u);
  EXPECT_FALSE(all.closed);

  ConsoleBuffer::Chunk tail = buffer.Read(7, 100);
  EXPECT_EQ(tail.data, "world");
  EXPECT_EQ(tail.offset, 7u);

  ConsoleBuffer::Chunk none = buffer.Read(12, 100);
  EXPECT_EQ(none.data, "");
  EXPECT_EQ(none.offset, 12u);
}

TEST(ConsoleBufferTest, MaxBytesLimitsTheChunk) {
  ConsoleBuffer buffer(64);
  buffer.Append(Bytes("0123456789"));
  ConsoleBuffer::Chunk chunk = buffer.Read(2, 3);
  EXPECT_EQ(chunk.data, "234");
  EXPECT_EQ(chunk.offset, 2u);
  EXPECT_EQ(buffer.Read(0, 0).data, "");
}

TEST(ConsoleBufferTest, RingOverwritesOldestAndClampsOffset) {
  ConsoleBuffer buffer(8);
  buffer.Append(Bytes("abcdef"));
  buffer.Append(Bytes("ghijk"));  // wraps: "abc" is gone
  EXPECT_EQ(buffer.total_written(), 11u);

  ConsoleBuffer::Chunk chunk = buffer.Read(0, 100);
  EXPECT_EQ(chunk.offset, 3u);
  EXPECT_EQ(chunk.data, "defghijk");

  // A read across the wrap point, in the middle of what is held.
  ConsoleBuffer::Chunk middle = buffer.Read(5, 4);
  EXPECT_EQ(middle.offset, 5u);
  EXPECT_EQ(middle.data, "fghi");
}

TEST(ConsoleBufferTest, AppendLargerThanCapacityKeepsTheNewestBytes) {
  ConsoleBuffer buffer(4);
  buffer.Append(Bytes("x"));
  buffer.Append(Bytes("0123456789"));
  EXPECT_EQ(buffer.total_written(), 11u);
  ConsoleBuffer::Chunk chunk = buffer.Read(0, 100);
  EXPECT_EQ(chunk.offset, 7u);
  EXPECT_EQ(chunk.data, "6789");
}

TEST(ConsoleBufferTest, MemoryStaysAtCapacityUnderFlood) {
  constexpr size_t kCapacity = 1000;
  ConsoleBuffer buffer(kCapacity);
  std::vector<uint8_t> line(37);
  uint64_t appended = 0;
  for (uint8_t i = 0; appended < 100 * kCapacity; ++i) {
    std::fill(line.begin(), line.end(), i);
    buffer.Append(line);
    appended += line.size();
  }
  EXPECT_EQ(buffer.capacity(), kCapacity);
  EXPECT_EQ(buffer.total_written(), appended);
  ConsoleBuffer::Chunk chunk = buffer.Read(0, 10 * kCapacity);
  EXPECT_EQ(chunk.data.size(), kCapacity);
  EXPECT_EQ(chunk.offset, appended - kCapacity);
  // The last byte is from the last line appended.
  EXPECT_EQ(static_cast<uint8_t>(chunk.data.back()), line.back());
}

TEST(ConsoleBufferTest, ZeroCapacityStillHoldsOneByte) {
  ConsoleBuffer buffer(0);
  EXPECT_EQ(buffer.capacity(), 1u);
  buffer.Append(Bytes("ab"));
  ConsoleBuffer::Chunk chunk = buffer.Read(0, 10);
  EXPECT_EQ(chunk.data, "b");
  EXPECT_EQ(chunk.offset, 1u);
}

TEST(ConsoleBufferTest, ReadTimesOutEmpty) {
  ConsoleBuffer buffer(16);
  buffer.Append(Bytes("ab"));
  ConsoleBuffer::Chunk chunk = buffer.Read(2, 10, absl::Milliseconds(20));
  EXPECT_EQ(chunk.data, "");
  EXPECT_EQ(chunk.offset, 2u);
  EXPECT_FALSE(chunk.closed);
}

TEST(ConsoleBufferTest, BlockedReaderIsWokenByAppend) {
  ConsoleBuffer buffer(16);
  ConsoleBuffer::Chunk chunk;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    chunk = buffer.Read(0, 10, absl::InfiniteDuration());
    done = true;
  });
  // The reader has nothing to return, so it must still be waiting; an infinite wait that
  // missed the wakeup below would hang the test.
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(done);
  buffer.Append(Bytes("z"));
  reader.join();
  EXPECT_EQ(chunk.data, "z");
  EXPECT_EQ(chunk.offset, 0u);
  EXPECT_FALSE(chunk.closed);
}

TEST(ConsoleBufferTest, BlockedReaderIsWokenByClose) {
  ConsoleBuffer buffer(16);
  buffer.Append(Bytes("ab"));
  ConsoleBuffer::Chunk chunk;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    chunk = buffer.Read(2, 10, absl::InfiniteDuration());
    done = true;
  });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(done);
  buffer.Close();
  reader.join();
  EXPECT_EQ(chunk.data, "");
  EXPECT_EQ(chunk.offset, 2u);
  EXPECT_TRUE(chunk.closed);
}

TEST(ConsoleBufferTest, ClosedOnlyOnceTheReaderHasEverything) {
  ConsoleBuffer buffer(16);
  buffer.Append(Bytes("abcdef"));
  buffer.Close();
  buffer.Append(Bytes("ignored"));
  EXPECT_EQ(buffer.total_written(), 6u);
  ConsoleBuffer::Chunk first = buffer.Read(0, 4, absl::InfiniteDuration());
  EXPECT_EQ(first.data, "abcd");
  EXPECT_FALSE(first.closed);
  ConsoleBuffer::Chunk rest = buffer.Read(4, 4, absl::InfiniteDuration());
  EXPECT_EQ(rest.data, "ef");
  EXPECT_TRUE(rest.closed);
}

// Followers that hold no thread: woken once, by the append that makes their offset readable,
// or by Close; never after CancelWake.
TEST(ConsoleBufferTest, WakesAreCalledOnceWhenReadableOrClosed) {
  ConsoleBuffer buffer(64);
  int now = 0, on_append = 0, on_close = 0, cancelled = 0;
  EXPECT_NE(buffer.WakeWhenReadable(0, [&] { ++on_append; }), 0u);
  const uint64_t cancel_id = buffer.WakeWhenReadable(0, [&] { ++cancelled; });
  buffer.CancelWake(cancel_id);
  EXPECT_EQ(on_append, 0);
  buffer.Append(Bytes("ab"));
  EXPECT_EQ(on_append, 1);
  buffer.Append(Bytes("c"));
  EXPECT_EQ(on_append, 1) << "a wake is called once";
  EXPECT_EQ(buffer.WakeWhenReadable(1, [&] { ++now; }), 0u) << "offset 1 is readable already";
  EXPECT_EQ(now, 1);
  EXPECT_NE(buffer.WakeWhenReadable(3, [&] { ++on_close; }), 0u);
  buffer.Close();
  EXPECT_EQ(on_close, 1);
  EXPECT_EQ(buffer.WakeWhenReadable(3, [&] { ++now; }), 0u) << "closed: at once";
  EXPECT_EQ(now, 2);
  EXPECT_EQ(cancelled, 0);
}

}  // namespace
}  // namespace vmmd
