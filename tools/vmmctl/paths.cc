#include "tools/vmmctl/paths.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace vmmctl {

std::string MakeAbsolute(absl::string_view path, absl::string_view cwd) {
  if (path.empty()) return "";
  const std::string joined =
      path.front() == '/' ? std::string(path) : absl::StrCat(cwd, "/", path);
  std::vector<absl::string_view> components;
  for (absl::string_view component : absl::StrSplit(joined, '/', absl::SkipEmpty())) {
    if (component == ".") continue;
    if (component == "..") {
      if (!components.empty()) components.pop_back();
      continue;
    }
    components.push_back(component);
  }
  return absl::StrCat("/", absl::StrJoin(components, "/"));
}

}  // namespace vmmctl
