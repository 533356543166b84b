// argv -> Invocation. Flags may come before or after the command, as "--flag value" or
// "--flag=value" (one dash works too); "--" ends the flags. A flag given twice keeps its last
// value, except a repeatable one (--drive), whose values accumulate in order.
#ifndef VMMD_TOOLS_VMMCTL_ARGS_H_
#define VMMD_TOOLS_VMMCTL_ARGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tools/vmmctl/invocation.h"

namespace vmmctl {

struct ParseResult {
  // Set when the command line is valid.
  std::optional<Invocation> invocation;
  // Otherwise what is wrong, naming the flag or argument: "create: unknown flag --kernel".
  std::string error;
  // The command the line named, if any, so that its usage can follow the error.
  std::optional<Command> command;
};

// `args` excludes argv[0]. `cwd` (absolute) resolves relative --kernel/--initrd/--drive
// paths.
ParseResult ParseArgs(absl::Span<const std::string> args, absl::string_view cwd);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_ARGS_H_
