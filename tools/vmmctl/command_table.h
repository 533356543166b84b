// The commands vmmctl knows and the flags each takes: the one table that argument parsing
// and usage text are both derived from.
#ifndef VMMD_TOOLS_VMMCTL_COMMAND_TABLE_H_
#define VMMD_TOOLS_VMMCTL_COMMAND_TABLE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tools/vmmctl/invocation.h"

namespace vmmctl {

struct FlagSpec {
  const char* name;        // as documented, without dashes: "memory-mib", "timeout_s"
  bool takes_value;        // false: a boolean flag (--json, optionally --json=false)
  const char* value_name;  // in usage text: "N", "PATH"; nullptr for booleans
  const char* help;
  bool global;             // accepted by every command
  // May be given more than once, its values accumulating in order (--drive); any other
  // flag given twice keeps its last value.
  bool repeatable = false;
};

struct CommandSpec {
  Command command;
  const char* name;                          // as typed: "create"
  const char* argument;                      // the positional argument ("ID"), or nullptr
  std::vector<const char*> flags;            // FlagSpec names it takes besides the global ones
  std::vector<const char*> required_flags;   // of `flags`
  const char* rpcs;                          // the VmmService RPC(s) it calls
  const char* summary;
};

// nullptr if unknown. '-' and '_' are interchangeable in flag names (--memory_mib works).
const FlagSpec* FindFlag(absl::string_view name);
const CommandSpec* FindCommand(absl::string_view name);
const CommandSpec& SpecOf(Command command);
const std::vector<CommandSpec>& AllCommands();

// "usage: vmmctl [flags] COMMAND ..." with every command and the global flags.
std::string GeneralUsage();
// The usage of one command, its flags and the global flags.
std::string CommandUsage(Command command);
// After a usage error: the command's synopsis and where to read more, two lines.
std::string ShortUsage(Command command);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_COMMAND_TABLE_H_
