// Client side of booting a test guest through the real vmmd: bounded RPCs, and one call that
// creates, configures and starts a VM and follows its console until the guest stops.
#ifndef VMMD_TESTS_DAEMON_BOOT_CLIENT_H_
#define VMMD_TESTS_DAEMON_BOOT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "grpcpp/client_context.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd::testing {

// A bound for RPCs, so that a hung daemon (or a guest that never stops) fails the test
// instead of hanging it.
inline constexpr auto kRpcDeadline = std::chrono::seconds(60);

// A client context with `deadline`, kRpcDeadline unless said.
std::unique_ptr<grpc::ClientContext> Context(
    std::chrono::milliseconds deadline =
        std::chrono::duration_cast<std::chrono::milliseconds>(kRpcDeadline));

// CreateVm -> ConfigureBoot (`image_file` under the daemon's image root) -> StartVcpus.
// Returns the first failure; ConfigureBoot's answer goes to `boot_info` when given.
grpc::Status BootGuest(vmm::v1::VmmService::Stub& stub, const DaemonProcess& daemon,
                       const std::string& vm_id, const std::string& image_file,
                       const std::string& cmdline = "console=ttyS0", uint32_t vcpus = 1,
                       uint64_t memory_mib = 32, vmm::v1::BootInfo* boot_info = nullptr);

// BootGuest, then StreamConsole(follow) until the guest stops, or until kRpcDeadline.
// Returns the console text; every failed step is a gtest failure (EXPECT, so the caller goes
// on to say more).
std::string BootAndFollowConsole(vmm::v1::VmmService::Stub& stub, const DaemonProcess& daemon,
                                 const std::string& vm_id, const std::string& image_file,
                                 uint32_t vcpus, uint64_t memory_mib, const std::string& cmdline,
                                 vmm::v1::BootInfo* boot_info = nullptr);

// GetVm; a failed call is a gtest failure (EXPECT) and an empty Vm.
vmm::v1::Vm GetVmOrFail(vmm::v1::VmmService::Stub& stub, const std::string& vm_id);

// StreamConsole: what the console ring holds now (`follow` false), or everything until the
// VM stops (true), bounded by `deadline`. A failed call is a gtest failure (EXPECT) with the
// text so far; the text is returned either way.
std::string ReadConsole(vmm::v1::VmmService::Stub& stub, const std::string& vm_id, bool follow,
                        std::chrono::milliseconds deadline);

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_DAEMON_BOOT_CLIENT_H_
