// IdempotentCreates: which request made each client-named VM. Orchestrators retry on every
// network error; a retried CreateVm or RunVm must get the VM it made, not ALREADY_EXISTS,
// while a different request for a taken vm_id is refused naming the first field that
// differs. Identical requests racing make one VM: the first makes it, the others wait for its
// outcome (and make it themselves if it failed).
#ifndef VMMD_DAEMON_IDEMPOTENT_CREATES_H_
#define VMMD_DAEMON_IDEMPOTENT_CREATES_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "google/protobuf/message.h"

namespace vmmd {

class IdempotentCreates {
 public:
  enum class Verdict {
    kMake,      // nothing has this vm_id: the caller makes the VM, then calls Finish
    kExisting,  // an identical request made it: answer with the VM as it is
  };

  // ALREADY_EXISTS when a different request (or another RPC) made `vm_id`, naming the first
  // field that differs. Waits while an identical request is still making it.
  absl::StatusOr<Verdict> Begin(const std::string& vm_id, const google::protobuf::Message& request);
  // After kMake: `made` keeps the record for the VM's life; false forgets it.
  void Finish(const std::string& vm_id, bool made);
  // The VM was deleted: its id is free for any request.
  void Forget(const std::string& vm_id);

 private:
  struct Record {
    std::unique_ptr<google::protobuf::Message> request;
    bool in_flight = true;
  };

  Mutex mutex_;
  std::map<std::string, Record> records_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_IDEMPOTENT_CREATES_H_
