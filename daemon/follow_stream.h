// FollowStream: a server-streaming RPC that sends what a source holds, then waits to be woken
// by it, without holding a thread (gRPC's callback API). Thousands of followers (StreamConsole
// and WatchVm with every VM followed, twice over) cost memory, never the threads that unary
// calls need.
//
// A subclass says what to send next (Next) and how to be woken (Wait, CancelWait). Wakes come
// from the source's appending thread (a vCPU thread, for the console) and only post the
// continuation to `pump`, a thread of the service's, which may write to gRPC.
#ifndef VMMD_DAEMON_FOLLOW_STREAM_H_
#define VMMD_DAEMON_FOLLOW_STREAM_H_

#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "base/mutex.h"
#include "daemon/worker_thread.h"
#include "grpcpp/support/server_callback.h"

namespace vmmd {

template <typename Message>
class FollowStream : public grpc::ServerWriteReactor<Message> {
 public:
  // Starts sending. The stream then owns itself until gRPC calls OnDone.
  template <typename Stream, typename... Args>
  static grpc::ServerWriteReactor<Message>* Start(WorkerThread* pump, Args&&... args) {
    std::shared_ptr<Stream> stream(new Stream(std::forward<Args>(args)...));
    stream->pump_ = pump;
    {
      MutexLock lock(&stream->mutex_);
      stream->self_ = stream;
    }
    stream->Pump();
    return stream.get();
  }

  // A stream that ends at once with `status` (an unknown VM, a bad request).
  static grpc::ServerWriteReactor<Message>* Refuse(grpc::Status status) {
    class Refused : public grpc::ServerWriteReactor<Message> {
     public:
      explicit Refused(grpc::Status status) { this->Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Refused(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    {
      MutexLock lock(&mutex_);
      writing_ = false;
      if (!ok) cancelled_ = true;  // the client went away
    }
    Pump();
  }

  void OnCancel() override {
    uint64_t wait_id = 0;
    {
      MutexLock lock(&mutex_);
      cancelled_ = true;
      std::swap(wait_id, wait_id_);
    }
    if (wait_id != 0) CancelWait(wait_id);
    Pump();
  }

  void OnDone() override {
    std::shared_ptr<FollowStream> self;
    {
      MutexLock lock(&mutex_);
      self.swap(self_);
    }
    // `self` may be the last owner: this object ends here, after the lock was released. A wake
    // still queued holds only a weak pointer.
  }

 protected:
  FollowStream() = default;

  enum class Step { kWrite, kFinish, kWait };
  // What to do now: fill `message` and kWrite, or set `status` and kFinish, or kWait.
  // Called with no write in flight, one call at a time.
  virtual Step Next(Message* message, grpc::Status* status) = 0;
  // Calls `wake` once there may be more: now (returning 0) or later (returning an id).
  virtual uint64_t Wait(absl::AnyInvocable<void() &&> wake) = 0;
  virtual void CancelWait(uint64_t id) = 0;

 private:
  // Writes the next message, finishes, or arranges to be woken. Safe from any thread; a call
  // that finds a write in flight, a wait pending or the stream finished does nothing. Finish
  // is called with no lock held (its reaction may run inline).
  void Pump() {
    while (true) {
      enum class Action { kCancel, kFinish, kWait } action;
      grpc::Status status;
      uint64_t generation = 0;
      {
        MutexLock lock(&mutex_);
        if (finished_ || writing_ || waiting_ || wait_id_ != 0) return;
        if (cancelled_) {
          finished_ = true;
          action = Action::kCancel;
        } else {
          switch (Next(&message_, &status)) {
            case Step::kWrite:
              writing_ = true;
              // Under the lock (a write's reaction is never run inline): the message is
              // serialized here, and the next Next, after OnWriteDone took the lock, may
              // reuse it. (The ordering through gRPC is invisible to TSan; this one is not.)
              this->StartWrite(&message_);
              return;
            case Step::kFinish:
              finished_ = true;
              action = Action::kFinish;
              break;
            case Step::kWait:
              waiting_ = true;
              woken_ = false;
              generation = ++wait_generation_;
              action = Action::kWait;
              break;
          }
        }
      }
      switch (action) {
        case Action::kCancel:
          this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled"));
          return;
        case Action::kFinish:
          this->Finish(std::move(status));
          return;
        case Action::kWait:
          break;
      }
      std::weak_ptr<FollowStream> weak = self();
      WorkerThread* pump = pump_;
      const uint64_t id = Wait([weak, pump, generation] {
        pump->Post([weak, generation] {
          if (std::shared_ptr<FollowStream> stream = weak.lock()) stream->Woken(generation);
        });
      });
      {
        MutexLock lock(&mutex_);
        waiting_ = false;
        // Parked only if the wake has not already come: it may fire (on the appending thread)
        // and run Woken (on the pump) before this lock is taken again.
        if (id != 0 && !cancelled_ && !woken_) {
          wait_id_ = id;
          return;
        }
      }
      // Readable already, woken while registering, or cancelled while registering (OnCancel
      // saw no id to cancel): go round again.
      if (id != 0) CancelWait(id);
    }
  }

  // A wake from registration `generation`; one from an older registration is stale.
  void Woken(uint64_t generation) {
    {
      MutexLock lock(&mutex_);
      if (generation != wait_generation_) return;
      woken_ = true;
      wait_id_ = 0;
    }
    Pump();
  }

  std::shared_ptr<FollowStream> self() {
    MutexLock lock(&mutex_);
    return self_;
  }

  WorkerThread* pump_ = nullptr;
  Mutex mutex_;
  std::shared_ptr<FollowStream> self_ ABSL_GUARDED_BY(mutex_);
  Message message_;  // the write in flight
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mutex_) = false;
  bool waiting_ ABSL_GUARDED_BY(mutex_) = false;  // registering a wake
  uint64_t wait_id_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t wait_generation_ ABSL_GUARDED_BY(mutex_) = 0;
  bool woken_ ABSL_GUARDED_BY(mutex_) = false;  // the current registration's wake has come
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_FOLLOW_STREAM_H_
