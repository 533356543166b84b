#include "devices/virtio/vsock/connection_table.h"

#include <memory>
#include <optional>
#include <vector>

#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/vsock/connection.h"
#include "gtest/gtest.h"

namespace vmmd::virtio::vsock {
namespace {

using ::vmmd::testing::StatusIs;

// Table tests need no socket: the connections are never asked to do I/O.
std::unique_ptr<Connection> Make(ConnectionKey key) {
  return Connection::FromHost(key, UniqueFd(), 4096, {});
}

std::vector<ConnectionKey> DrainLine(ConnectionTable& table) {
  std::vector<ConnectionKey> keys;
  while (std::optional<ConnectionKey> key = table.NextScheduled()) keys.push_back(*key);
  return keys;
}

TEST(ConnectionTableTest, HoldsAtMostItsLimitAndOneConnectionPerKey) {
  ConnectionTable table(3, 8);
  EXPECT_OK(table.Insert(Make({1, 1})));
  EXPECT_OK(table.Insert(Make({1, 2})));
  EXPECT_THAT(table.Insert(Make({1, 2})), StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  EXPECT_OK(table.Insert(Make({2, 1})));
  EXPECT_TRUE(table.full());
  EXPECT_THAT(table.Insert(Make({3, 3})),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::HasSubstr("limit")));
  EXPECT_EQ(table.size(), 3u);
  ASSERT_NE(table.Find({1, 2}), nullptr);
  EXPECT_EQ(table.Find({1, 2})->key(), (ConnectionKey{1, 2}));
  EXPECT_EQ(table.Find({9, 9}), nullptr);
  EXPECT_NE(table.Remove({1, 2}), nullptr);
  EXPECT_EQ(table.Remove({1, 2}), nullptr);
  EXPECT_OK(table.Insert(Make({3, 3})));
}

TEST(ConnectionTableTest, TheRxLineHoldsEachConnectionOnceInOrder) {
  ConnectionTable table(8, 8);
  for (uint32_t port = 1; port <= 4; ++port) ASSERT_OK(table.Insert(Make({port, 7})));
  table.Schedule({2, 7});
  table.Schedule({1, 7});
  table.Schedule({2, 7});  // already in line
  table.Schedule({9, 9});  // unknown
  table.Schedule({3, 7});
  table.ScheduleFirst({4, 7});
  EXPECT_EQ(table.scheduled(), 4u);
  table.Remove({1, 7});  // leaves the line with the table
  std::vector<ConnectionKey> expected = {{4, 7}, {2, 7}, {3, 7}};
  EXPECT_EQ(DrainLine(table), expected);
  EXPECT_EQ(table.scheduled(), 0u);
}

TEST(ConnectionTableTest, RemovingAndAddingAKeyAgainNeverGrowsTheLine) {
  ConnectionTable table(2, 8);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_OK(table.Insert(Make({5, 5})));
    table.Schedule({5, 5});
    table.Remove({5, 5});
  }
  EXPECT_EQ(table.scheduled(), 0u);
}

TEST(ConnectionTableTest, QueuedResetsAreBounded) {
  ConnectionTable table(2, 3);
  EXPECT_TRUE(table.QueueReset({1, 1}));
  EXPECT_TRUE(table.QueueReset({1, 2}));
  EXPECT_TRUE(table.QueueReset({1, 3}));
  EXPECT_TRUE(table.resets_full());
  EXPECT_FALSE(table.QueueReset({1, 4}));
  EXPECT_EQ(table.resets(), 3u);
  EXPECT_EQ(table.PeekReset(), (ConnectionKey{1, 1}));
  EXPECT_EQ(table.PeekReset(), (ConnectionKey{1, 1})) << "peeking takes nothing";
  table.PopReset();
  EXPECT_EQ(table.PeekReset(), (ConnectionKey{1, 2}));
  EXPECT_FALSE(table.resets_full());
}

TEST(ConnectionTableTest, RemoveAllEmptiesEverything) {
  ConnectionTable table(4, 4);
  ASSERT_OK(table.Insert(Make({1, 1})));
  ASSERT_OK(table.Insert(Make({2, 2})));
  table.Schedule({1, 1});
  table.QueueReset({3, 3});
  EXPECT_EQ(table.RemoveAll().size(), 2u);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.scheduled(), 0u);
  EXPECT_EQ(table.resets(), 0u);
}

TEST(ConnectionTableTest, LocalPortsComeFromTheUpperRangeAndSkipThoseInUse) {
  ConnectionTable table(4, 4);
  EXPECT_EQ(table.AllocateLocalPort(), 1u << 30);
  // A connection (any guest port) on the next port makes it taken.
  ASSERT_OK(table.Insert(Make({(1u << 30) + 1, 80})));
  EXPECT_EQ(table.AllocateLocalPort(), (1u << 30) + 2);
}

TEST(ConnectionTableTest, LocalPortsWrapBelowTwoToTheThirtyOne) {
  ConnectionTable table(4, 4, (1u << 31) - 2);
  ASSERT_OK(table.Insert(Make({1u << 30, 80})));
  EXPECT_EQ(table.AllocateLocalPort(), (1u << 31) - 2);
  EXPECT_EQ(table.AllocateLocalPort(), (1u << 31) - 1);
  EXPECT_EQ(table.AllocateLocalPort(), (1u << 30) + 1) << "round again, past the port in use";
}

}  // namespace
}  // namespace vmmd::virtio::vsock
