// The VmmService requests an Invocation asks for, built in one place for both the one-call
// commands (create, boot) and `run`, which makes the same calls in a row.
#ifndef VMMD_TOOLS_VMMCTL_REQUESTS_H_
#define VMMD_TOOLS_VMMCTL_REQUESTS_H_

#include <string>

#include "tools/vmmctl/invocation.h"
#include "vmm/v1/vmm.pb.h"

namespace vmmctl {

// --id, --vcpus, --memory-mib, each --drive (in order) and --entropy.
vmm::v1::CreateVmRequest MakeCreateVmRequest(const Invocation& invocation);

// For VM `vm_id`: --kernel, --initrd, --cmdline and --protocol.
vmm::v1::ConfigureBootRequest MakeConfigureBootRequest(const Invocation& invocation,
                                                       const std::string& vm_id);

// --dir, --id, --resume, --copy-memory and the overrides, in the order given.
vmm::v1::RestoreVmRequest MakeRestoreVmRequest(const Invocation& invocation);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_REQUESTS_H_
