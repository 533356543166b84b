// SignalWatcher: takes SIGINT and SIGTERM on a thread of its own (sigtimedwait) and hands
// them to an Interruption, so that `run` can delete its VM before exiting. A second signal
// exits at once (status 128 + signal), for when cleaning up hangs.
#ifndef VMMD_TOOLS_VMMCTL_SIGNAL_WATCHER_H_
#define VMMD_TOOLS_VMMCTL_SIGNAL_WATCHER_H_

#include <atomic>
#include <thread>

#include "tools/vmmctl/interruption.h"

namespace vmmctl {

class SignalWatcher {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread. Call it first thing in main, before
  // gRPC starts threads: they inherit the mask, so only the watcher ever receives them.
  static void BlockSignals();

  // Starts the watcher thread; `interruption` must outlive this object.
  explicit SignalWatcher(Interruption* interruption);
  // Stops and joins the thread.
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void Loop();

  Interruption* const interruption_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_SIGNAL_WATCHER_H_
