#include "devices/eventfd_interrupt.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

#include "base/status_matchers.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(EventFdInterruptTest, TriggersAddUpInTheCounter) {
  ASSERT_OK_AND_ASSIGN(EventFdInterrupt interrupt, EventFdInterrupt::Create());
  ASSERT_GE(interrupt.fd(), 0);
  interrupt.Trigger();
  interrupt.Trigger();
  uint64_t count = 0;
  ASSERT_EQ(::read(interrupt.fd(), &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  EXPECT_EQ(count, 2u);
  // Reading reset the counter; the fd is non-blocking, so an empty read fails with EAGAIN.
  EXPECT_EQ(::read(interrupt.fd(), &count, sizeof(count)), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(EventFdInterruptTest, FdIsCloseOnExecAndNonBlocking) {
  ASSERT_OK_AND_ASSIGN(EventFdInterrupt interrupt, EventFdInterrupt::Create());
  EXPECT_NE(::fcntl(interrupt.fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(interrupt.fd(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(EventFdInterruptTest, MovedInterruptKeepsTheFd) {
  ASSERT_OK_AND_ASSIGN(EventFdInterrupt first, EventFdInterrupt::Create());
  const int fd = first.fd();
  EventFdInterrupt second = std::move(first);
  EXPECT_EQ(second.fd(), fd);
  second.Trigger();
  uint64_t count = 0;
  ASSERT_EQ(::read(fd, &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  EXPECT_EQ(count, 1u);
}

}  // namespace
}  // namespace vmmd
