// PID 1 of the snapshot benchmark's Linux guest (bench/snapshot_bench.cc builds the initramfs
// around it): says "snapshot-bench: ready" the moment it runs, which is the point in
// userspace a cold boot is timed to, then prints "t K" every period_us microseconds
// (nanosleep) for ever, so that a guest restored from a snapshot taken after "ready" writes
// its next console byte within about one period. period_us comes from the kernel command
// line: the kernel hands init every "key=value" word it does not know (and that has no dot)
// as an environment variable, so no file system needs mounting. Static, libc only; it never
// exits (PID 1 exiting would panic the kernel).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void say(const char* text, size_t length) {
  // write(2), not stdio: each line leaves at once, whatever the buffering of fd 1.
  while (length > 0) {
    ssize_t n = write(1, text, length);
    if (n <= 0) return;
    text += n;
    length -= (size_t)n;
  }
}

int main(void) {
  static const char ready[] = "snapshot-bench: ready\n";
  say(ready, sizeof(ready) - 1);
  const char* period = getenv("period_us");
  long period_us = period != NULL ? atol(period) : 1000;
  if (period_us <= 0) period_us = 1000;
  const struct timespec step = {period_us / 1000000, (period_us % 1000000) * 1000};
  for (unsigned long k = 1;; ++k) {
    char line[32];
    int length = snprintf(line, sizeof(line), "t %lu\n", k);
    say(line, (size_t)length);
    nanosleep(&step, NULL);
  }
}
