#include "tools/vmmctl/signal_watcher.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>

namespace vmmctl {
namespace {

sigset_t WatchedSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// How often the watcher looks at stop_ between waits.
constexpr long kPollNanos = 100 * 1000 * 1000;

}  // namespace

void SignalWatcher::BlockSignals() {
  const sigset_t signals = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

SignalWatcher::SignalWatcher(Interruption* interruption)
    : interruption_(interruption), thread_([this] { Loop(); }) {}

SignalWatcher::~SignalWatcher() {
  stop_ = true;
  thread_.join();
}

void SignalWatcher::Loop() {
  pthread_setname_np(pthread_self(), "vmmctl/signals");
  const sigset_t signals = WatchedSignals();
  const timespec poll = {0, kPollNanos};
  while (!stop_) {
    const int signal_number = sigtimedwait(&signals, nullptr, &poll);
    if (signal_number < 0) continue;  // EAGAIN (timeout) or EINTR
    if (interruption_->interrupted()) ::_exit(128 + signal_number);
    interruption_->Trigger(signal_number);
  }
}

}  // namespace vmmctl
