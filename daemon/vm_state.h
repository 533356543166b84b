// A VM's lifecycle: CREATED -> CONFIGURED -> RUNNING <-> PAUSED -> STOPPED.
#ifndef VMMD_DAEMON_VM_STATE_H_
#define VMMD_DAEMON_VM_STATE_H_

namespace vmmd {

enum class VmState { kCreated, kConfigured, kRunning, kPaused, kStopped };

inline const char* VmStateName(VmState state) {
  switch (state) {
    case VmState::kCreated: return "CREATED";
    case VmState::kConfigured: return "CONFIGURED";
    case VmState::kRunning: return "RUNNING";
    case VmState::kPaused: return "PAUSED";
    case VmState::kStopped: return "STOPPED";
  }
  return "UNKNOWN";
}

}  // namespace vmmd

#endif  // VMMD_DAEMON_VM_STATE_H_
