#include "tools/vmmctl/command_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace vmmctl {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* const flags = new std::vector<FlagSpec>{
      {"address", true, "ADDR",
       "vmmd's address: unix:/path/to.sock or tcp:HOST:PORT (default: $VMMD_ADDRESS, else "
       "unix:/run/vmmd/vmmd.sock)",
       true},
      {"json", false, nullptr, "print responses as JSON (proto field names)", true},
      {"timeout_s", true, "N", "seconds allowed for connecting and for each call (0: no limit; "
       "default 30)", true},
      {"tls_ca_file", true, "FILE",
       "PEM CA certificate(s) that vmmd's certificate must be signed by (default: "
       "$VMMD_TLS_CA_FILE, else the system's CAs)", true},
      {"tls_cert_file", true, "FILE",
       "PEM client certificate, with --tls_key_file, for a vmmd started with "
       "--tls_client_ca_file (default: $VMMD_TLS_CERT_FILE)", true},
      {"tls_key_file", true, "FILE",
       "the client certificate's PEM private key (default: $VMMD_TLS_KEY_FILE)", true},
      {"tls_server_name", true, "NAME",
       "the name vmmd's certificate must have, instead of the address's host (default: "
       "$VMMD_TLS_SERVER_NAME)", true},
      {"help", false, nullptr, "show this help", true},
      {"id", true, "ID", "the new VM's id, 1-64 of [A-Za-z0-9_-] (default: generated)", false},
      {"vcpus", true, "N", "number of vCPUs (default 1)", false},
      {"memory-mib", true, "M", "guest RAM in MiB (default 128)", false},
      {"drive", true, "PATH[,ro][,root]",
       "a raw disk image under one of vmmd's --image_root directories (no comma in PATH), "
       "attached as virtio-blk drive0, drive1, ... in order; ro: read-only; root: the guest's "
       "root device, root=/dev/vda",
       false, /*repeatable=*/true},
      {"net", true, "TAP[,MAC]",
       "a network interface (virtio-net) on the host's tap device TAP: an existing one, or "
       "one vmmd creates for the VM; eth0, eth1, ... in order; MAC aa:bb:cc:dd:ee:ff "
       "(default: made up from the VM's id)",
       false, /*repeatable=*/true},
      {"label", true, "KEY=VALUE",
       "a label on the VM (Kubernetes syntax: [prefix/]name, values of at most 63 characters)",
       false, /*repeatable=*/true},
      {"selector", true, "SELECTOR",
       "only VMs whose labels match, e.g. app=web,tier!=db (=, == and !=)", false},
      {"vsock", true, "CID,PATH",
       "a host channel (virtio-vsock): the guest's context id, and the Unix socket vmmd makes "
       "at PATH (under its --vsock_root) for host programs to CONNECT through; a guest "
       "connecting to host port P reaches PATH_P",
       false},
      {"entropy", false, nullptr,
       "add a virtio-rng device fed from the host's getrandom(2) (the guest's /dev/hwrng)", false},
      {"kernel", true, "PATH", "ELF vmlinux or bzImage under one of vmmd's --image_root directories", false},
      {"initrd", true, "PATH", "initrd under one of vmmd's --image_root directories", false},
      {"cmdline", true, "TEXT", "kernel command line", false},
      {"protocol", true, "NAME", "boot protocol: auto (default), linux64 or pvh", false},
      {"acpi", true, "on|off",
       "ACPI tables for the guest: on (default; the DSDT names the devices) or off (MP table and "
       "virtio_mmio.device= on the command line)",
       false},
      {"follow", false, nullptr, "keep streaming until the VM stops", false},
      {"keep", false, nullptr, "keep the VM once it stopped (default: delete it)", false},
      {"dir", true, "DIR",
       "the snapshot's directory, under vmmd's --snapshot_root (snapshot creates it if missing)",
       false},
      {"resume", false, nullptr, "run the restored VM at once (default: it stays paused)", false},
      {"copy-memory", false, nullptr,
       "read the snapshot's memory into the VM instead of mapping it copy-on-write", false},
      {"drive-path", true, "ID=PATH",
       "another image for one of the snapshot's drives, by drive id (each clone its own)", false,
       /*repeatable=*/true},
      {"tap", true, "ID=TAP", "another tap for one of the snapshot's network interfaces (by iface id)",
       false, /*repeatable=*/true},
      {"vsock-path", true, "PATH", "another Unix socket for the snapshot's vsock device", false},
      {"vsock-cid", true, "CID", "another context id for the snapshot's vsock device", false},
  };
  return *flags;
}

std::string Normalized(absl::string_view name) {
  return absl::StrReplaceAll(name, {{"_", "-"}});
}

// "--kernel PATH" or "--json".
std::string FlagSynopsis(const FlagSpec& flag) {
  return flag.value_name == nullptr ? absl::StrCat("--", flag.name)
                                    : absl::StrCat("--", flag.name, " ", flag.value_name);
}

// "create [--id ID] [--vcpus N] [--memory-mib M] [--drive PATH[,ro][,root]]... [--entropy]".
std::string CommandSynopsis(const CommandSpec& spec) {
  std::string synopsis = spec.name;
  if (spec.argument != nullptr) absl::StrAppend(&synopsis, " ", spec.argument);
  for (const char* name : spec.flags) {
    const bool required = std::find(spec.required_flags.begin(), spec.required_flags.end(),
                                    name) != spec.required_flags.end();
    const FlagSpec& flag_spec = *FindFlag(name);
    const std::string flag = FlagSynopsis(flag_spec);
    absl::StrAppend(&synopsis, " ", required ? flag : absl::StrCat("[", flag, "]"),
                    flag_spec.repeatable ? "..." : "");
  }
  return synopsis;
}

// One line per flag, the help text two spaces past the longest synopsis of any flag (so
// that a command's flags and the global ones line up).
std::string FlagLines(const std::vector<const FlagSpec*>& flags) {
  size_t width = 0;
  for (const FlagSpec& flag : Flags()) width = std::max(width, FlagSynopsis(flag).size());
  std::string text;
  for (const FlagSpec* flag : flags) {
    absl::StrAppendFormat(&text, "  %-*s  %s%s\n", static_cast<int>(width), FlagSynopsis(*flag),
                          flag->help, flag->repeatable ? " (repeatable)" : "");
  }
  return text;
}

std::vector<const FlagSpec*> GlobalFlags() {
  std::vector<const FlagSpec*> flags;
  for (const FlagSpec& flag : Flags()) {
    if (flag.global) flags.push_back(&flag);
  }
  return flags;
}

constexpr char kGlobalSynopsis[] = "vmmctl [--address ADDR] [--json] [--timeout_s N]";

constexpr char kTlsNote[] =
    "Any --tls_* flag (or $VMMD_TLS_* variable) makes the connection TLS, for a vmmd listening\n"
    "on tcp: with --tls_cert_file; add a client certificate if it has --tls_client_ca_file:\n"
    "  vmmctl --address tcp:vmmd.example:7070 --tls_ca_file ca.pem list\n"
    "  vmmctl --address tcp:vmmd.example:7070 --tls_ca_file ca.pem \\\n"
    "    --tls_cert_file me.crt --tls_key_file me.key list\n";

}  // namespace

const std::vector<CommandSpec>& AllCommands() {
  static const auto* const commands = new std::vector<CommandSpec>{
      {Command::kCreate, "create", nullptr, {"id", "vcpus", "memory-mib", "drive", "net", "vsock", "entropy", "label"}, {},
       "CreateVm", "create a VM and print its id"},
      {Command::kBoot, "boot", "ID", {"kernel", "initrd", "cmdline", "protocol", "acpi"}, {"kernel"},
       "ConfigureBoot",
       "load a kernel (and initrd) into the VM and print the boot structures written"},
      {Command::kStart, "start", "ID", {}, {}, "StartVcpus", "start the VM's vCPUs"},
      {Command::kConsole, "console", "ID", {"follow"}, {}, "StreamConsole",
       "write the VM's serial console output to stdout, raw"},
      {Command::kGet, "get", "ID", {}, {}, "GetVm", "show one VM"},
      {Command::kList, "list", nullptr, {"selector"}, {}, "ListVms",
       "list every VM, or those whose labels match --selector"},
      {Command::kPause, "pause", "ID", {}, {}, "PauseVm", "pause the VM's vCPUs"},
      {Command::kResume, "resume", "ID", {}, {}, "ResumeVm", "resume a paused VM"},
      {Command::kStop, "stop", "ID", {}, {}, "StopVm", "stop the VM (it stays until deleted)"},
      {Command::kDelete, "delete", "ID", {}, {}, "DeleteVm",
       "stop the VM if needed and release it"},
      {Command::kWatch, "watch", "ID", {}, {}, "WatchVm",
       "print the VM's state changes, one line each, as they happen"},
      {Command::kWatchAll, "watch-all", nullptr, {"selector"}, {}, "WatchVms",
       "print every VM's state changes, creations and deletions on the host (those whose labels "
       "match --selector), one line each, as they happen; first a line per VM that exists"},
      {Command::kHost, "host", nullptr, {}, {}, "GetHostInfo",
       "show what this host offers VMs (KVM, CPU features, limits, devices) and what they hold"},
      {Command::kRun, "run", nullptr, {"kernel", "initrd", "cmdline", "protocol", "acpi", "vcpus",
       "memory-mib", "drive", "net", "vsock", "entropy", "label", "id", "keep"}, {"kernel"},
       "RunVm, StreamConsole, GetVm, DeleteVm",
       "create, boot and start a VM, stream its console until it stops, then delete it"},
      {Command::kSnapshot, "snapshot", "ID", {"dir"}, {"dir"}, "SnapshotVm",
       "save a paused VM's state and memory in a directory"},
      {Command::kRestore, "restore", nullptr, {"dir", "id", "resume", "copy-memory", "drive-path",
       "tap", "vsock-path", "vsock-cid"}, {"dir"}, "RestoreVm",
       "create a VM from a snapshot and print its id"},
      {Command::kHelp, "help", "[COMMAND]", {}, {}, "none", "show help for a command"},
  };
  return *commands;
}

const FlagSpec* FindFlag(absl::string_view name) {
  const std::string wanted = Normalized(name);
  for (const FlagSpec& flag : Flags()) {
    if (Normalized(flag.name) == wanted) return &flag;
  }
  return nullptr;
}

const CommandSpec* FindCommand(absl::string_view name) {
  for (const CommandSpec& spec : AllCommands()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const CommandSpec& SpecOf(Command command) {
  for (const CommandSpec& spec : AllCommands()) {
    if (spec.command == command) return spec;
  }
  return AllCommands().back();  // unreachable: every Command has a row
}

std::string GeneralUsage() {
  std::string text = absl::StrCat("usage: ", kGlobalSynopsis, " COMMAND [ARGS]\n\ncommands:\n");
  for (const CommandSpec& spec : AllCommands()) {
    absl::StrAppendFormat(&text, "  %-10s %s\n", spec.name, spec.summary);
  }
  absl::StrAppend(&text, "\nglobal flags (before or after the command):\n",
                  FlagLines(GlobalFlags()), "\n", kTlsNote,
                  "\n'vmmctl help COMMAND' shows a command's arguments.\n");
  return text;
}

std::string CommandUsage(Command command) {
  const CommandSpec& spec = SpecOf(command);
  std::string text = absl::StrCat("usage: ", kGlobalSynopsis, " ", CommandSynopsis(spec), "\n  ",
                                  spec.summary, " (", spec.rpcs, ")\n");
  std::vector<const FlagSpec*> own;
  for (const char* name : spec.flags) own.push_back(FindFlag(name));
  if (!own.empty()) absl::StrAppend(&text, "flags:\n", FlagLines(own));
  absl::StrAppend(&text, "global flags:\n", FlagLines(GlobalFlags()));
  return text;
}

std::string ShortUsage(Command command) {
  const CommandSpec& spec = SpecOf(command);
  return absl::StrCat("usage: ", kGlobalSynopsis, " ", CommandSynopsis(spec), "\n",
                      "('vmmctl help ", spec.name, "' describes each flag)\n");
}

}  // namespace vmmctl
