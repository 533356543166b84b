// Daemon types to and from the API's messages.
#ifndef VMMD_DAEMON_PROTO_CONVERSION_H_
#define VMMD_DAEMON_PROTO_CONVERSION_H_

#include "boot/configure_boot.h"
#include "daemon/event_log.h"
#include "daemon/virtual_machine.h"
#include "vmm/v1/vmm.pb.h"

namespace vmmd {

vmm::v1::VmState ToProto(VmState state);
void ToProto(const BootInfo& info, vmm::v1::BootInfo* proto);
void ToProto(const VmStatus& status, vmm::v1::Vm* proto);
// What the VM adds to its BootInfo: kernel path and format, the whole cmdline, the devices.
void AddVmBootDetails(const VmStatus& status, vmm::v1::BootInfo* proto);
void ToProto(const std::string& vm_id, const VmEventRecord& event, vmm::v1::VmEvent* proto);

}  // namespace vmmd

#endif  // VMMD_DAEMON_PROTO_CONVERSION_H_
