// `vmmctl run`: RunVm (create, boot, start; a failed step leaves nothing) ->
// StreamConsole(follow) until the guest stops -> GetVm (why it stopped, on stderr) -> DeleteVm
// unless --keep. A failed later step, or SIGINT/SIGTERM through context.interruption, deletes
// the VM (unless --keep).
#ifndef VMMD_TOOLS_VMMCTL_RUN_COMMAND_H_
#define VMMD_TOOLS_VMMCTL_RUN_COMMAND_H_

#include "tools/vmmctl/command_context.h"
#include "tools/vmmctl/invocation.h"

namespace vmmctl {

// 0 once the guest stopped, whatever the reason; 1 if a call failed; 128 + the signal's
// number if interrupted. The guest's console goes to context.out as it arrives.
int RunVm(const Invocation& invocation, const CommandContext& context);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_RUN_COMMAND_H_
