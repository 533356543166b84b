// ConsoleLog: a VM's console copied to a file (--console_log_dir), without letting the guest
// reach the host's disk or stall its vCPUs.
//
// The vCPU thread only appends to a bounded in-memory backlog (Append: no I/O, a short lock of
// its own, never the UART's I/O). The VM's worker writes the backlog out in batches (Flush).
// Output beyond a per-VM rate (a token bucket) or beyond what the backlog holds while the disk
// is slow is dropped and counted. The file is capped: once it would pass max_bytes it is
// renamed to PATH.1 (replacing the previous one) and a new one is started, so a VM keeps at
// most 2 x max_bytes on disk.
#ifndef VMMD_DAEMON_CONSOLE_LOG_H_
#define VMMD_DAEMON_CONSOLE_LOG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "daemon/token_bucket.h"

namespace vmmd {

struct ConsoleLogLimits {
  uint64_t max_bytes = 16 << 20;     // per file; one rotated file besides
  uint64_t rate_bytes = 256 << 10;   // a second, sustained; 0: no rate limit
  uint64_t burst_bytes = 2 << 20;    // at once (a whole boot log)
  uint64_t backlog_bytes = 1 << 20;  // waiting for the worker
};

struct ConsoleLogStats {
  std::string path;
  uint64_t written_bytes = 0;          // reached the file (both files, since the VM started)
  uint64_t rate_dropped_bytes = 0;     // over the rate limit
  uint64_t backlog_dropped_bytes = 0;  // the disk did not keep up
  uint64_t write_errors = 0;           // failed writes (full disk, I/O error)
  uint64_t lost_bytes = 0;             // the rest of a batch a write failed in
  uint64_t rotations = 0;
};

class ConsoleLog {
 public:
  // Opens (appends to) `path`, O_NOFOLLOW. Errors name the path and the errno.
  static absl::StatusOr<std::unique_ptr<ConsoleLog>> Open(std::string path,
                                                          const ConsoleLogLimits& limits);

  // Any thread (the vCPU's, under the UART lock): keeps what the rate and the backlog allow.
  void Append(absl::Span<const uint8_t> bytes, absl::Time now = absl::Now());
  // One thread at a time (the VM's worker): writes the backlog to the file, rotating it at
  // max_bytes. Slow on a slow disk, but only for the caller.
  void Flush();

  ConsoleLogStats Stats() const;

 private:
  ConsoleLog(std::string path, UniqueFd fd, uint64_t file_size, const ConsoleLogLimits& limits);
  // Renames the file to PATH.1 and starts a new one. Flush's thread only.
  void Rotate();

  const std::string path_;
  const ConsoleLogLimits limits_;
  // Flush's thread only.
  UniqueFd fd_;
  uint64_t file_size_ = 0;
  std::string writing_;

  mutable Mutex mutex_;
  std::string backlog_ ABSL_GUARDED_BY(mutex_);
  TokenBucket rate_ ABSL_GUARDED_BY(mutex_);
  ConsoleLogStats stats_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_CONSOLE_LOG_H_
