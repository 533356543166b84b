#include "daemon/idempotent_creates.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "daemon/proto_diff.h"

namespace vmmd {
namespace {

// "CreateVm" for a CreateVmRequest: the RPC that made a VM.
std::string RpcName(const google::protobuf::Message& request) {
  absl::string_view name = request.GetDescriptor()->name();
  absl::ConsumeSuffix(&name, "Request");
  return std::string(name);
}

}  // namespace

absl::StatusOr<IdempotentCreates::Verdict> IdempotentCreates::Begin(
    const std::string& vm_id, const google::protobuf::Message& request) {
  MutexLock lock(&mutex_);
  while (true) {
    auto it = records_.find(vm_id);
    if (it == records_.end()) {
      Record record;
      record.request.reset(request.New());
      record.request->CopyFrom(request);
      records_.emplace(vm_id, std::move(record));
      return Verdict::kMake;
    }
    const google::protobuf::Message& earlier = *it->second.request;
    if (earlier.GetDescriptor() != request.GetDescriptor()) {
      return absl::AlreadyExistsError(absl::StrCat("vm_id ", vm_id, " already exists, made by ",
                                                   RpcName(earlier), ", not ", RpcName(request)));
    }
    if (const std::string field = FirstDifference(earlier, request); !field.empty()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "vm_id ", vm_id, " already exists, made by a different ", RpcName(request),
          " request: ", field, " differs"));
    }
    if (!it->second.in_flight) return Verdict::kExisting;
    // An identical request is making it: wait for its outcome, then look again.
    auto settled = [this, &vm_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      auto found = records_.find(vm_id);
      return found == records_.end() || !found->second.in_flight;
    };
    mutex_.Await(absl::Condition(&settled));
  }
}

void IdempotentCreates::Finish(const std::string& vm_id, bool made) {
  MutexLock lock(&mutex_);
  auto it = records_.find(vm_id);
  if (it == records_.end()) return;
  if (made) {
    it->second.in_flight = false;
  } else {
    records_.erase(it);
  }
}

void IdempotentCreates::Forget(const std::string& vm_id) {
  MutexLock lock(&mutex_);
  auto it = records_.find(vm_id);
  if (it != records_.end() && !it->second.in_flight) records_.erase(it);
}

}  // namespace vmmd
