// TokenBucket: a byte-rate limit with a burst allowance. The caller passes the time, so the
// bucket has no clock of its own and tests drive it exactly.
#ifndef VMMD_DAEMON_TOKEN_BUCKET_H_
#define VMMD_DAEMON_TOKEN_BUCKET_H_

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"

namespace vmmd {

class TokenBucket {
 public:
  // `rate` tokens a second, at most `burst` saved up; starts full. A rate of 0: no limit.
  TokenBucket(uint64_t rate, uint64_t burst, absl::Time now)
      : rate_(rate), burst_(burst), tokens_(static_cast<double>(burst)), last_(now) {}

  // Takes up to `wanted` tokens at `now`; returns how many it took.
  uint64_t Take(uint64_t wanted, absl::Time now) {
    if (rate_ == 0) return wanted;
    if (now > last_) {
      tokens_ = std::min<double>(static_cast<double>(burst_),
                                 tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
      last_ = now;
    }
    const uint64_t taken = std::min<uint64_t>(wanted, static_cast<uint64_t>(tokens_));
    tokens_ -= static_cast<double>(taken);
    return taken;
  }

 private:
  const uint64_t rate_;
  const uint64_t burst_;
  double tokens_;
  absl::Time last_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_TOKEN_BUCKET_H_
