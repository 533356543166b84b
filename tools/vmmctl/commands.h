// The commands: each maps to one VmmService RPC (run to several, in run_command.h), prints
// the response as text or JSON and returns the process's exit status.
#ifndef VMMD_TOOLS_VMMCTL_COMMANDS_H_
#define VMMD_TOOLS_VMMCTL_COMMANDS_H_

#include "tools/vmmctl/command_context.h"
#include "tools/vmmctl/invocation.h"

namespace vmmctl {

// Runs `invocation` (any command but kHelp, which needs no daemon). Returns 0 on success,
// 1 when a call failed (reported on context.err), or for `run` 128 + signal if interrupted.
int ExecuteCommand(const Invocation& invocation, const CommandContext& context);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_COMMANDS_H_
