// VmManager: the registry of VMs. Validates what a client asks for, enforces the daemon's
// limits, and owns every VirtualMachine (shared with in-flight RPCs and streams).
#ifndef VMMD_DAEMON_VM_MANAGER_H_
#define VMMD_DAEMON_VM_MANAGER_H_

#include <linux/kvm.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "absl/time/time.h"
#include "daemon/labels.h"
#include "daemon/virtual_machine.h"
#include "kvm/kvm_system.h"

namespace vmmd {

struct VmManagerOptions {
  std::vector<std::string> image_roots;  // canonical absolute directories
  uint32_t max_vcpus = 254;              // per VM, at most the MP table's 254
  uint64_t max_memory_mib = 64 * 1024;   // per VM
  uint64_t max_total_memory_mib = 0;     // all VMs together, until deleted; 0: no limit
  uint32_t max_vms = 1024;               // VMs at once, in any state, until deleted
  uint64_t max_kernel_bytes = 512 << 20;
  uint64_t max_initrd_bytes = 1024ull << 20;
  std::string console_log_dir;           // empty: no console log files
  std::string vsock_root;                // canonical absolute directory; empty: no vsock
  std::string snapshot_root;             // canonical absolute directory; empty: no snapshots
  ConsoleLogLimits console_log_limits;
  absl::Duration worker_timeout = absl::Seconds(30);
  bool coalesce_serial_output = true;    // VmConfig::coalesce_serial_output
  bool virtio_ring_features = true;      // VmConfig::virtio_ring_features
  bool virtio_net_offloads = true;       // VmConfig::virtio_net_offloads
  bool transparent_huge_pages = false;   // VmConfig::transparent_huge_pages
};

// A network interface as the client gave it (guest_mac may be empty: generated).
struct NetworkInterfaceParams {
  std::string id;
  std::string host_dev_name;
  std::string guest_mac;
};

struct CreateVmParams {
  std::string vm_id;  // empty: generated
  uint32_t vcpu_count = 0;
  uint64_t memory_mib = 0;
  std::vector<DriveConfig> drives;
  bool entropy_device = false;
  std::vector<NetworkInterfaceParams> network_interfaces;
  std::optional<VsockConfig> vsock;
  Labels labels;
};

struct SnapshotParams {
  std::string vm_id;
  std::string snapshot_dir;
};

// What SnapshotVm wrote.
struct SnapshotResult {
  struct File {
    std::string path;
    uint64_t size = 0;       // bytes
    uint64_t allocated = 0;  // bytes on disk (the memory file is sparse)
  };
  std::string snapshot_dir;
  std::vector<File> files;  // the state file, then the memory file
  absl::Duration duration;  // from the request to both files synced and in place
  uint32_t format_version = 0;
};

struct RestoreParams {
  std::string vm_id;  // empty: generated
  std::string snapshot_dir;
  bool resume = false;
  bool copy_memory = false;  // GuestMemory::FileBacking::kCopy instead of MAP_PRIVATE
  // What differs between clones, by the snapshot's ids: each overrides one field.
  std::map<std::string, std::string> drive_paths;  // drive_id -> path
  std::map<std::string, std::string> tap_names;    // iface_id -> host_dev_name
  std::optional<std::string> vsock_uds_path;
  std::optional<uint32_t> vsock_guest_cid;
};

struct ConfigureBootParams {
  std::string vm_id;
  std::string kernel_path;
  std::string initrd_path;
  std::string cmdline;
  std::string boot_protocol;  // "", "auto", "linux64" or "pvh"
  std::string acpi;           // "", "on" or "off"
};

class VmManager {
 public:
  // The smallest guest: boot structures below 1 MiB, a kernel above it.
  static constexpr uint64_t kMinMemoryMib = 2;
  static constexpr size_t kMaxVmIdLength = 64;
  // kernel_path and initrd_path: PATH_MAX (4096) counts the terminating NUL.
  static constexpr size_t kMaxPathLength = 4095;
  // cmdline before the kernel's own cmdline_size applies: what fits at layout::kCmdlineStart.
  static constexpr size_t kMaxCmdlineLength = 65535;
  // boot_protocol: "auto", "linux64" or "pvh"; longer is a mistake, not worth echoing back.
  static constexpr size_t kMaxBootProtocolLength = 16;
  // Drives per VM: with the entropy device, the 17 IRQ lines the devices have
  // (boot/layout.h's kDeviceIrq*).
  static constexpr size_t kMaxDrives = 16;
  // drive_id: what VIRTIO_BLK_T_GET_ID can answer (VIRTIO_BLK_ID_BYTES).
  static constexpr size_t kMaxDriveIdLength = 20;
  // Network interfaces per VM, and iface_id's length (as drive_id's).
  static constexpr size_t kMaxNetworkInterfaces = 8;
  static constexpr size_t kMaxIfaceIdLength = 20;
  // Virtio devices of every kind together: one IRQ line each (boot/layout.h's kDeviceIrq*).
  static constexpr size_t kMaxVirtioDevices = 17;

  // `kvm` null means /dev/kvm could not be opened: creating VMs is UNAVAILABLE.
  VmManager(std::unique_ptr<KvmSystem> kvm, VmManagerOptions options);
  ~VmManager();  // ShutdownAll()

  // INVALID_ARGUMENT for a bad vm_id, vcpu_count, memory_mib or drive (naming the field and
  // the limit), the drive images' errors (daemon/drive_file.h: PERMISSION_DENIED, NOT_FOUND,
  // FAILED_PRECONDITION when attached elsewhere), ALREADY_EXISTS for a taken vm_id, UNAVAILABLE without KVM, RESOURCE_EXHAUSTED
  // when max_vms VMs exist or memory_mib would take the VMs' memory beyond
  // max_total_memory_mib (a VM's memory counts until DeleteVm has released it).
  absl::StatusOr<std::shared_ptr<VirtualMachine>> Create(const CreateVmParams& params);
  // NOT_FOUND for an unknown vm_id; INVALID_ARGUMENT for an empty or over-long one.
  absl::StatusOr<std::shared_ptr<VirtualMachine>> Get(const std::string& vm_id) const;
  std::vector<std::shared_ptr<VirtualMachine>> List() const;
  // Checks every string's length first (INVALID_ARGUMENT naming the field and the limit),
  // then opens the images (see ImageFile::Open for its errors) and configures the VM.
  absl::StatusOr<BootInfo> ConfigureBoot(const ConfigureBootParams& params);
  // Saves a PAUSED VM under --snapshot_root: its state file and its memory file (see
  // daemon/snapshot_dir.h), each written aside and renamed into place once synced.
  // FAILED_PRECONDITION without --snapshot_root or for a VM not PAUSED; SnapshotDir::Open's
  // errors for snapshot_dir; NOT_FOUND for an unknown vm_id.
  absl::StatusOr<SnapshotResult> Snapshot(const SnapshotParams& params);
  // A new VM from a snapshot, PAUSED (or RUNNING with resume), its configuration the
  // snapshot's with the overrides applied and checked as CreateVm checks a request. Refused
  // before anything is built: a state file that is not a snapshot, truncated or corrupt
  // (INVALID_ARGUMENT naming what), of another format version or for a CPU this host does
  // not have (FAILED_PRECONDITION), a memory file of the wrong size, an override naming no
  // device of the snapshot. CreateVm's errors otherwise; nothing is left behind on failure.
  absl::StatusOr<std::shared_ptr<VirtualMachine>> Restore(const RestoreParams& params);
  // Removes the VM and releases everything it held. NOT_FOUND for an unknown vm_id.
  absl::Status Delete(const std::string& vm_id);
  // Deletes every VM (daemon exit).
  void ShutdownAll();

  const VmManagerOptions& options() const { return options_; }
  // What a host description (GetHostInfo) needs: KVM (null without), what CPUID it offers,
  // and what the VMs hold now (counted as the limits count them, until deleted).
  const KvmSystem* kvm() const { return kvm_.get(); }
  const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return supported_cpuid_; }
  struct Usage {
    uint32_t vms = 0;
    uint64_t memory_mib = 0;
  };
  Usage usage() const;
  // Every VM's state changes, creations and deletions, for WatchVms.
  EventLog& host_events() { return host_events_; }
  // Events the host's log keeps for a watcher that fell behind.
  static constexpr size_t kHostEvents = 4096;

  // Checks a client-chosen id: 1 to 64 of [A-Za-z0-9_-].
  static absl::Status ValidateVmId(const std::string& vm_id);
  // Drive count, ids (syntax, length, unique), paths' lengths, at most one root.
  static absl::Status ValidateDrives(const std::vector<DriveConfig>& drives);
  // Interface count, ids (syntax, length, unique), tap names (Linux's rules, unique), MAC
  // addresses (when given); returns the interfaces with their addresses, generated from
  // `vm_id` where the client gave none.
  // guest_cid in 3..2^32-2, uds_path's syntax (daemon/vsock_path.h).
  static absl::Status ValidateVsock(const VsockConfig& vsock);
  static absl::StatusOr<std::vector<NetworkInterfaceConfig>> ValidateNetworkInterfaces(
      const std::vector<NetworkInterfaceParams>& interfaces, const std::string& vm_id);
  // Checks the lengths of ConfigureBoot's strings (and that the paths hold no NUL byte), and
  // the boot_protocol and acpi names.
  static absl::Status ValidateConfigureBootParams(const ConfigureBootParams& params);
  // Everything Create checks of the request itself, before it opens anything or looks at
  // what exists (INVALID_ARGUMENT naming the field).
  absl::Status ValidateCreate(const CreateVmParams& params) const;

 private:
  // A VM validated, its backends open and its id and memory reserved: what Create and
  // Restore build from. Install gives the reservation back if the build failed.
  struct PreparedVm {
    VmConfig config;
    DeviceBackends backends;
  };
  absl::StatusOr<PreparedVm> Prepare(const CreateVmParams& params);
  absl::StatusOr<std::shared_ptr<VirtualMachine>> Install(
      const VmConfig& config, absl::StatusOr<std::shared_ptr<VirtualMachine>> vm);
  std::string GenerateIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Gives back what a VM reserved in Create, once its memory and threads are released.
  void ReleaseReservation(uint64_t memory_mib);

  const std::unique_ptr<KvmSystem> kvm_;
  const VmManagerOptions options_;
  std::vector<kvm_cpuid_entry2> supported_cpuid_;

  mutable Mutex mutex_;
  // A null entry reserves an id while its VM is being created.
  std::map<std::string, std::shared_ptr<VirtualMachine>> vms_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_generated_ ABSL_GUARDED_BY(mutex_) = 0;
  // What existing VMs hold, counted from Create until Delete has released it (a VM being
  // deleted still counts while its threads are joined and its memory unmapped).
  uint32_t reserved_vms_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t reserved_memory_mib_ ABSL_GUARDED_BY(mutex_) = 0;
  EventLog host_events_{kHostEvents};
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_VM_MANAGER_H_
