// WakeList: one-shot wakes waiting for a position in a stream (a console offset, an event
// sequence) to be reached. Not synchronised: its owner guards it with its own mutex, and
// calls the wakes TakeReady returns after releasing that mutex.
#ifndef VMMD_BASE_WAKE_LIST_H_
#define VMMD_BASE_WAKE_LIST_H_

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace vmmd {

class WakeList {
 public:
  using Wake = absl::AnyInvocable<void() &&>;

  // Waits for `position` to become available; returns an id for Cancel (never 0).
  uint64_t Add(uint64_t position, Wake wake) {
    const uint64_t id = next_id_++;
    waiting_.emplace(id, Waiting{position, std::move(wake)});
    return id;
  }
  // Drops a wake not yet taken. Unknown ids (taken already) are ignored.
  void Cancel(uint64_t id) { waiting_.erase(id); }

  // Removes and returns the wakes whose position is below `end` (available), or all of them
  // once the stream is `closed`.
  std::vector<Wake> TakeReady(uint64_t end, bool closed) {
    std::vector<Wake> ready;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (closed || it->second.position < end) {
        ready.push_back(std::move(it->second.wake));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    return ready;
  }

  bool empty() const { return waiting_.empty(); }

  // Calls each of `wakes` (outside the owner's lock).
  static void Run(std::vector<Wake> wakes) {
    for (Wake& wake : wakes) std::move(wake)();
  }

 private:
  struct Waiting {
    uint64_t position;
    Wake wake;
  };
  std::map<uint64_t, Waiting> waiting_;
  uint64_t next_id_ = 1;
};

}  // namespace vmmd

#endif  // VMMD_BASE_WAKE_LIST_H_
