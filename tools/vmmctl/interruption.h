// Interruption: how a signal reaches a call in flight. `run` registers each call's
// ClientContext while the call runs; Trigger() (from the signal thread, or a test) records
// the signal and cancels that call, so the command can clean up instead of dying.
#ifndef VMMD_TOOLS_VMMCTL_INTERRUPTION_H_
#define VMMD_TOOLS_VMMCTL_INTERRUPTION_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"

namespace vmmctl {

class Interruption {
 public:
  // Records `signal_number` (the first one wins) and cancels the registered call, if any.
  void Trigger(int signal_number) ABSL_LOCKS_EXCLUDED(mutex_);
  bool interrupted() const ABSL_LOCKS_EXCLUDED(mutex_);
  // The signal that interrupted us, 0 if none.
  int signal_number() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Registers `context` for the lifetime of the scope (which must end before the context
  // is destroyed). If already interrupted, cancels it at once, so the call fails fast.
  class CallScope {
   public:
    CallScope(Interruption* interruption, grpc::ClientContext* context);
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

   private:
    Interruption* const interruption_;  // may be null: nothing to register with
  };

 private:
  mutable absl::Mutex mutex_;
  int signal_number_ ABSL_GUARDED_BY(mutex_) = 0;
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mutex_) = nullptr;
};

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_INTERRUPTION_H_
