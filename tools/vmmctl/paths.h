// Image paths as the daemon wants them: vmmd opens kernels and initrds only by absolute path
// under its image roots, so a relative path on the command line is resolved against the
// client's working directory before it is sent.
#ifndef VMMD_TOOLS_VMMCTL_PATHS_H_
#define VMMD_TOOLS_VMMCTL_PATHS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace vmmctl {

// `path` if absolute, else `cwd`/`path`; either way lexically cleaned: "." components and
// repeated slashes dropped, ".." removing the component before it (never above "/").
// `cwd` is absolute, as getcwd(3) returns it (symlinks already resolved, so a leading ".."
// means the real parent directory). An empty `path` stays empty.
std::string MakeAbsolute(absl::string_view path, absl::string_view cwd);

}  // namespace vmmctl

#endif  // VMMD_TOOLS_VMMCTL_PATHS_H_
