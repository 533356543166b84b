// EventLog: replay from a sequence, the bound on what it keeps, and wakes for followers.
#include "daemon/event_log.h"

#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(EventLogTest, ReadsFromASequenceAndKeepsABoundedTail) {
  EventLog log;
  for (size_t i = 0; i < EventLog::kMaxEvents + 10; ++i) log.Append(VmState::kRunning, "tick");
  EventLog::Batch all = log.Read(0);
  ASSERT_EQ(all.events.size(), EventLog::kMaxEvents);
  EXPECT_EQ(all.events.front().sequence, 10u);
  EXPECT_EQ(log.Read(EventLog::kMaxEvents + 9).events.size(), 1u);
  EXPECT_TRUE(log.Read(EventLog::kMaxEvents + 10).events.empty());
  EXPECT_FALSE(all.closed);
}

TEST(EventLogTest, WakesAreCalledOnceWhenAnEventComesOrTheLogCloses) {
  EventLog log;
  int now = 0, on_append = 0, on_close = 0, cancelled = 0;
  EXPECT_NE(log.WakeWhenReadable(0, [&] { ++on_append; }), 0u);
  log.CancelWake(log.WakeWhenReadable(0, [&] { ++cancelled; }));
  log.Append(VmState::kCreated, "created");
  EXPECT_EQ(on_append, 1);
  log.Append(VmState::kConfigured, "configured");
  EXPECT_EQ(on_append, 1) << "a wake is called once";
  EXPECT_EQ(log.WakeWhenReadable(1, [&] { ++now; }), 0u) << "event 1 exists";
  EXPECT_EQ(now, 1);
  EXPECT_NE(log.WakeWhenReadable(2, [&] { ++on_close; }), 0u);
  log.Close();
  EXPECT_EQ(on_close, 1);
  EXPECT_TRUE(log.Read(2).closed);
  EXPECT_EQ(cancelled, 0);
}

}  // namespace
}  // namespace vmmd
