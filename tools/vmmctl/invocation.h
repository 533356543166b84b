// What one vmmctl command line asks for, once parsed: the command, the global options and
// the command's own arguments.
#ifndef VMMD_TOOLS_VMMCTL_INVOCATION_H_
#define VMMD_TOOLS_VMMCTL_INVOCATION_H_

#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vmmctl {

// One per VmmService RPC, plus `run` (several RPCs) and `help` (none).
enum class Command {
  kHelp,
  kCreate,
  kBoot,
  kStart,
  kConsole,
  kGet,
  kList,
  kPause,
  kResume,
  kStop,
  kDelete,
  kWatch,
  kWatchAll,
  kHost,
  kRun,
  kSnapshot,
  kRestore,
};

// The --tls_* flags as given; unset ones may come from $VMMD_TLS_* (tls_options.h).
struct TlsFlags {
  std::optional<std::string> ca_file;      // --tls_ca_file
  std::optional<std::string> cert_file;    // --tls_cert_file
  std::optional<std::string> key_file;     // --tls_key_file
  std::optional<std::string> server_name;  // --tls_server_name
};

struct GlobalOptions {
  std::optional<std::string> address;  // --address; unset: $VMMD_ADDRESS or the default
  TlsFlags tls;
  bool json = false;                   // --json
  int64_t timeout_s = 30;              // --timeout_s: connecting and each unary call; 0: none
};

// One --drive PATH[,ro][,root], as vmm.v1.Drive wants it.
struct DriveFlag {
  std::string drive_id;         // "drive0", "drive1", ...: the flag's position
  std::string path;             // absolute
  bool read_only = false;       // ,ro
  bool is_root_device = false;  // ,root
};

// One --net TAP[,MAC], as vmm.v1.NetworkInterface wants it.
struct NetFlag {
  std::string iface_id;       // "eth0", "eth1", ...: the flag's position
  std::string host_dev_name;  // the tap
  std::string guest_mac;      // empty: vmmd makes one up
};

struct Invocation {
  Command command = Command::kHelp;
  GlobalOptions global;
  std::string vm_id;             // the ID argument, or --id for create/run
  uint32_t vcpu_count = 1;       // --vcpus
  uint64_t memory_mib = 128;     // --memory-mib
  std::vector<DriveFlag> drives; // --drive, in the order given
  bool entropy_device = false;   // --entropy
  std::vector<NetFlag> network_interfaces;  // --net, in the order given
  bool has_vsock = false;        // --vsock CID,PATH
  uint32_t vsock_cid = 0;
  std::string vsock_uds_path;    // as given (vmmd resolves nothing: it must be absolute)
  std::map<std::string, std::string> labels;  // --label KEY=VALUE (vmmd checks them)
  std::string label_selector;    // list --selector
  std::string kernel_path;       // --kernel, absolute
  std::string initrd_path;       // --initrd, absolute, or empty
  std::string cmdline;           // --cmdline
  std::string boot_protocol;     // --protocol: "" (auto), auto, linux64 or pvh
  std::string acpi;              // --acpi: "" (on), on or off
  bool follow = false;           // console --follow
  bool keep = false;             // run --keep
  std::string snapshot_dir;      // snapshot/restore --dir, absolute
  bool resume = false;           // restore --resume
  bool copy_memory = false;      // restore --copy-memory
  // restore --drive-path DRIVE_ID=PATH and --tap IFACE_ID=TAP, in the order given.
  std::vector<std::pair<std::string, std::string>> drive_paths;
  std::vector<std::pair<std::string, std::string>> taps;
  std::string vsock_path_override;  // restore --vsock-path, absolute
  uint32_t vsock_cid_override = 0;  // restore --vsock-cid
  std::optional<Command> help_topic;  // for kHelp: the command asked about, if any
};

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_INVOCATION_H_
