#include "tools/vmmctl/interruption.h"

namespace vmmctl {

void Interruption::Trigger(int signal_number) {
  absl::MutexLock lock(&mutex_);
  if (signal_number_ == 0) signal_number_ = signal_number;
  if (call_ != nullptr) call_->TryCancel();
}

bool Interruption::interrupted() const {
  absl::MutexLock lock(&mutex_);
  return signal_number_ != 0;
}

int Interruption::signal_number() const {
  absl::MutexLock lock(&mutex_);
  return signal_number_;
}

Interruption::CallScope::CallScope(Interruption* interruption, grpc::ClientContext* context)
    : interruption_(interruption) {
  if (interruption_ == nullptr) return;
  absl::MutexLock lock(&interruption_->mutex_);
  interruption_->call_ = context;
  // TryCancel before the call starts is honoured when it starts.
  if (interruption_->signal_number_ != 0) context->TryCancel();
}

Interruption::CallScope::~CallScope() {
  if (interruption_ == nullptr) return;
  absl::MutexLock lock(&interruption_->mutex_);
  interruption_->call_ = nullptr;
}

}  // namespace vmmctl
