#include "tools/vmmctl/args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tools/vmmctl/command_table.h"
#include "tools/vmmctl/paths.h"

namespace vmmctl {
namespace {

// One flag as found on the command line, before it is checked against the command.
struct FoundFlag {
  const FlagSpec* spec;
  std::optional<std::string> value;
};

bool ParseBool(absl::string_view text, bool* value) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "1" || lower == "yes") {
    *value = true;
    return true;
  }
  if (lower == "false" || lower == "0" || lower == "no") {
    *value = false;
    return true;
  }
  return false;
}

template <typename Int>
bool ParseNumber(absl::string_view text, Int* value) {
  // SimpleAtoi skips whitespace and accepts a sign; a count is digits only.
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) return false;
  return absl::SimpleAtoi(text, value);
}

// --drive's value, "PATH[,ro][,root]", into `drive` (path as given). Returns what is wrong
// with it, or "".
std::string ParseDrive(absl::string_view value, DriveFlag* drive) {
  const std::vector<absl::string_view> parts = absl::StrSplit(value, ',');
  if (parts.front().empty()) return "empty path";
  drive->path = std::string(parts.front());
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "ro") {
      drive->read_only = true;
    } else if (parts[i] == "root") {
      drive->is_root_device = true;
    } else if (parts[i].empty()) {
      return absl::StrCat("empty option in '", value, "' (PATH[,ro][,root])");
    } else {
      return absl::StrCat("unknown option '", parts[i], "' in '", value, "' (PATH[,ro][,root])");
    }
  }
  return "";
}

class Parser {
 public:
  Parser(absl::Span<const std::string> args, absl::string_view cwd) : args_(args), cwd_(cwd) {}

  ParseResult Parse() {
    Scan();
    const CommandSpec* spec = positionals_.empty() ? nullptr : FindCommand(positionals_.front());
    if (spec != nullptr) result_.command = spec->command;
    if (!error_.empty()) return Fail(spec != nullptr ? absl::StrCat(spec->name, ": ", error_) : error_);
    if (positionals_.empty()) {
      if (help_) return Succeed(Command::kHelp);
      return Fail("missing command");
    }
    if (spec == nullptr) return Fail(absl::StrCat("unknown command '", positionals_.front(), "'"));
    if (spec->command == Command::kHelp) return ParseHelp();
    if (help_) {
      invocation_.help_topic = spec->command;
      return Succeed(Command::kHelp);
    }
    return ParseCommand(*spec);
  }

 private:
  // Splits args_ into flags and positionals. Keeps the first error in error_.
  void Scan() {
    bool flags_ended = false;
    for (size_t i = 0; i < args_.size(); ++i) {
      const std::string& arg = args_[i];
      if (flags_ended || arg.size() < 2 || arg[0] != '-') {
        positionals_.push_back(arg);
        continue;
      }
      if (arg == "--") {
        flags_ended = true;
        continue;
      }
      absl::string_view body = arg;
      if (!absl::ConsumePrefix(&body, "--")) absl::ConsumePrefix(&body, "-");
      std::optional<std::string> value;
      const size_t equals = body.find('=');
      if (equals != absl::string_view::npos) {
        value = std::string(body.substr(equals + 1));
        body = body.substr(0, equals);
      }
      if (body == "h") body = "help";
      const FlagSpec* spec = FindFlag(body);
      if (spec == nullptr) {
        SetError(absl::StrCat("unknown flag --", body));
        continue;
      }
      if (spec->takes_value && !value.has_value()) {
        if (i + 1 == args_.size()) {
          SetError(absl::StrCat("flag --", spec->name, " needs a value (--", spec->name, " ",
                                spec->value_name, ")"));
          continue;
        }
        value = args_[++i];
      }
      if (spec == FindFlag("help")) {
        help_ = true;
        continue;
      }
      flags_.push_back({spec, std::move(value)});
    }
  }

  ParseResult ParseHelp() {
    if (positionals_.size() > 2) {
      return Fail(absl::StrCat("help: unexpected argument '", positionals_[2], "'"));
    }
    if (positionals_.size() == 2) {
      const CommandSpec* topic = FindCommand(positionals_[1]);
      if (topic == nullptr) {
        return Fail(absl::StrCat("help: unknown command '", positionals_[1], "'"));
      }
      invocation_.help_topic = topic->command;
    }
    return Succeed(Command::kHelp);
  }

  ParseResult ParseCommand(const CommandSpec& spec) {
    const size_t wanted = spec.argument == nullptr ? 0 : 1;
    if (positionals_.size() - 1 < wanted) {
      return Fail(absl::StrCat(spec.name, ": missing argument ", spec.argument));
    }
    if (positionals_.size() - 1 > wanted) {
      return Fail(absl::StrCat(spec.name, ": unexpected argument '", positionals_[wanted + 1], "'"));
    }
    if (wanted == 1) invocation_.vm_id = positionals_[1];

    std::vector<const FlagSpec*> seen;
    for (const FoundFlag& flag : flags_) {
      const bool allowed =
          flag.spec->global || std::any_of(spec.flags.begin(), spec.flags.end(), [&](const char* name) {
            return FindFlag(name) == flag.spec;
          });
      if (!allowed) return Fail(absl::StrCat(spec.name, ": unknown flag --", flag.spec->name));
      std::string error = Apply(flag);
      if (!error.empty()) return Fail(absl::StrCat(spec.name, ": --", flag.spec->name, ": ", error));
      seen.push_back(flag.spec);
    }
    for (const char* name : spec.required_flags) {
      if (std::find(seen.begin(), seen.end(), FindFlag(name)) == seen.end()) {
        return Fail(absl::StrCat(spec.name, ": missing required flag --", name));
      }
    }
    return Succeed(spec.command);
  }

  // Where a --tls_* flag's value goes; nullptr for any other flag.
  std::optional<std::string>* TlsFlagValue(const std::string& name) {
    TlsFlags& tls = invocation_.global.tls;
    if (name == "tls_ca_file") return &tls.ca_file;
    if (name == "tls_cert_file") return &tls.cert_file;
    if (name == "tls_key_file") return &tls.key_file;
    if (name == "tls_server_name") return &tls.server_name;
    return nullptr;
  }

  // Stores one flag's value in invocation_; returns what is wrong with it, or "".
  std::string Apply(const FoundFlag& flag) {
    const std::string name = flag.spec->name;
    if (!flag.spec->takes_value) {
      bool on = true;
      if (flag.value.has_value() && !ParseBool(*flag.value, &on)) {
        return absl::StrCat("'", *flag.value, "' is not true or false");
      }
      if (name == "json") invocation_.global.json = on;
      if (name == "follow") invocation_.follow = on;
      if (name == "keep") invocation_.keep = on;
      if (name == "entropy") invocation_.entropy_device = on;
      if (name == "resume") invocation_.resume = on;
      if (name == "copy-memory") invocation_.copy_memory = on;
      return "";
    }
    const std::string& value = *flag.value;
    const std::string not_a_number = absl::StrCat("'", value, "' is not a non-negative integer");
    if (name == "address") {
      invocation_.global.address = value;
    } else if (std::optional<std::string>* tls_value = TlsFlagValue(name)) {
      // Unset is the way to say "none"; an empty value is a slip, e.g. an unset shell variable.
      if (value.empty()) return "empty value";
      *tls_value = value;
    } else if (name == "timeout_s") {
      if (!ParseNumber(value, &invocation_.global.timeout_s)) return not_a_number;
    } else if (name == "id") {
      invocation_.vm_id = value;
    } else if (name == "vcpus") {
      if (!ParseNumber(value, &invocation_.vcpu_count)) return not_a_number;
    } else if (name == "memory-mib") {
      if (!ParseNumber(value, &invocation_.memory_mib)) return not_a_number;
    } else if (name == "kernel" || name == "initrd") {
      if (value.empty()) return "empty path";
      (name == "kernel" ? invocation_.kernel_path : invocation_.initrd_path) =
          MakeAbsolute(value, cwd_);
    } else if (name == "drive") {
      DriveFlag drive;
      std::string error = ParseDrive(value, &drive);
      if (!error.empty()) return error;
      drive.drive_id = absl::StrCat("drive", invocation_.drives.size());
      drive.path = MakeAbsolute(drive.path, cwd_);
      invocation_.drives.push_back(std::move(drive));
    } else if (name == "label") {
      const std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits('=', 1));
      if (parts.size() != 2 || parts[0].empty()) return "expected KEY=VALUE";
      if (!invocation_.labels.emplace(parts[0], parts[1]).second) return "label given twice";
    } else if (name == "selector") {
      invocation_.label_selector = value;
    } else if (name == "net") {
      const std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(',', 1));
      if (parts[0].empty()) return "empty tap name (TAP[,MAC])";
      NetFlag net;
      net.iface_id = absl::StrCat("eth", invocation_.network_interfaces.size());
      net.host_dev_name = parts[0];
      if (parts.size() > 1) net.guest_mac = parts[1];  // vmmd checks it, naming the field
      invocation_.network_interfaces.push_back(std::move(net));
    } else if (name == "vsock") {
      const std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(',', 1));
      if (parts.size() != 2 || parts[1].empty()) return "expected CID,PATH";
      if (!ParseNumber(parts[0], &invocation_.vsock_cid)) return "CID is not a number";
      invocation_.has_vsock = true;
      invocation_.vsock_uds_path = MakeAbsolute(parts[1], cwd_);
    } else if (name == "dir") {
      if (value.empty()) return "empty path";
      invocation_.snapshot_dir = MakeAbsolute(value, cwd_);
    } else if (name == "drive-path" || name == "tap") {
      const std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits('=', 1));
      if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
        return name == "tap" ? "expected ID=TAP (an iface id)" : "expected ID=PATH (a drive id)";
      }
      if (name == "tap") {
        invocation_.taps.emplace_back(parts[0], parts[1]);
      } else {
        invocation_.drive_paths.emplace_back(parts[0], MakeAbsolute(parts[1], cwd_));
      }
    } else if (name == "vsock-path") {
      if (value.empty()) return "empty path";
      invocation_.vsock_path_override = MakeAbsolute(value, cwd_);
    } else if (name == "vsock-cid") {
      if (!ParseNumber(value, &invocation_.vsock_cid_override)) return not_a_number;
    } else if (name == "cmdline") {
      invocation_.cmdline = value;
    } else if (name == "protocol") {
      invocation_.boot_protocol = value;
    } else if (name == "acpi") {
      invocation_.acpi = value;
    }
    return "";
  }

  void SetError(std::string error) {
    if (error_.empty()) error_ = std::move(error);
  }

  ParseResult Fail(std::string error) {
    result_.error = std::move(error);
    return result_;
  }

  ParseResult Succeed(Command command) {
    invocation_.command = command;
    result_.command = command;
    result_.invocation = invocation_;
    return result_;
  }

  const absl::Span<const std::string> args_;
  const absl::string_view cwd_;
  std::vector<FoundFlag> flags_;
  std::vector<std::string> positionals_;
  bool help_ = false;
  std::string error_;
  Invocation invocation_;
  ParseResult result_;
};

}  // namespace

ParseResult ParseArgs(absl::Span<const std::string> args, absl::string_view cwd) {
  return Parser(args, cwd).Parse();
}

}  // namespace vmmctl
