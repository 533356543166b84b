#include "daemon/console_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/errno_status.h"
#include "glog/logging.h"

namespace vmmd {
namespace {

absl::StatusOr<UniqueFd> OpenForAppend(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd) return ::vmmd::ErrnoToStatus(errno, absl::StrCat("console log ", path));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleLog>> ConsoleLog::Open(std::string path,
                                                             const ConsoleLogLimits& limits) {
  absl::StatusOr<UniqueFd> fd = OpenForAppend(path);
  if (!fd.ok()) return fd.status();
  struct stat info;
  const uint64_t size = ::fstat(fd->get(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
  return std::unique_ptr<ConsoleLog>(new ConsoleLog(std::move(path), std::move(*fd), size, limits));
}

ConsoleLog::ConsoleLog(std::string path, UniqueFd fd, uint64_t file_size,
                       const ConsoleLogLimits& limits)
    : path_(std::move(path)),
      limits_(limits),
      fd_(std::move(fd)),
      file_size_(file_size),
      rate_(limits.rate_bytes, limits.burst_bytes, absl::Now()) {
  stats_.path = path_;
}

void ConsoleLog::Append(absl::Span<const uint8_t> bytes, absl::Time now) {
  MutexLock lock(&mutex_);
  const uint64_t allowed = rate_.Take(bytes.size(), now);
  stats_.rate_dropped_bytes += bytes.size() - allowed;
  const uint64_t room = limits_.backlog_bytes - std::min<uint64_t>(limits_.backlog_bytes, backlog_.size());
  const uint64_t kept = std::min(allowed, room);
  stats_.backlog_dropped_bytes += allowed - kept;
  backlog_.append(reinterpret_cast<const char*>(bytes.data()), kept);
}

void ConsoleLog::Flush() {
  {
    MutexLock lock(&mutex_);
    if (backlog_.empty()) return;
    writing_.swap(backlog_);  // the vCPU thread goes on into an empty (reserved) buffer
  }
  if (!fd_) {  // a reopen after rotation failed: try again
    absl::StatusOr<UniqueFd> fd = OpenForAppend(path_);
    if (fd.ok()) {
      fd_ = std::move(*fd);
      file_size_ = 0;
    }
  }
  uint64_t written = 0, errors = 0, rotations = 0;
  size_t offset = 0;
  while (offset < writing_.size() && fd_) {
    if (file_size_ >= limits_.max_bytes) {
      Rotate();
      ++rotations;
      if (!fd_) break;
    }
    const size_t piece = std::min<uint64_t>(writing_.size() - offset, limits_.max_bytes - file_size_);
    const ssize_t result = ::write(fd_.get(), writing_.data() + offset, piece);
    if (result < 0 && errno == EINTR) continue;
    if (result <= 0) {
      // A full disk or an I/O error: this batch is lost (counted), the next one tries again.
      LOG_EVERY_N(WARNING, 100) << "console log " << path_ << ": write: " << ::strerror(errno);
      ++errors;
      break;
    }
    offset += static_cast<size_t>(result);
    file_size_ += static_cast<uint64_t>(result);
    written += static_cast<uint64_t>(result);
  }
  const uint64_t lost = writing_.size() - offset;
  writing_.clear();
  MutexLock lock(&mutex_);
  stats_.lost_bytes += lost;
  stats_.written_bytes += written;
  stats_.write_errors += errors;
  stats_.rotations += rotations;
}

void ConsoleLog::Rotate() {
  const std::string previous = path_ + ".1";
  if (::rename(path_.c_str(), previous.c_str()) != 0) {
    LOG(WARNING) << "console log " << path_ << ": rename to " << previous << ": "
                 << ::strerror(errno);
  }
  // O_TRUNC as well: if the rename failed, the file starts again rather than growing on.
  fd_.Reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                   0640));
  if (!fd_) LOG(WARNING) << "console log " << path_ << ": reopen: " << ::strerror(errno);
  file_size_ = 0;
}

ConsoleLogStats ConsoleLog::Stats() const {
  MutexLock lock(&mutex_);
  return stats_;
}

}  // namespace vmmd
