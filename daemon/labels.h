// VM labels as Kubernetes defines them (concepts/overview/working-with-objects/labels): what a
// CreateVmRequest may carry, and the equality-based selectors ListVms and WatchVms filter by.
#ifndef VMMD_DAEMON_LABELS_H_
#define VMMD_DAEMON_LABELS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmmd {

using Labels = std::map<std::string, std::string>;

// Kubernetes' limits, and ours on how many a VM may carry.
inline constexpr size_t kMaxLabels = 64;
inline constexpr size_t kMaxLabelNameLength = 63;    // the key's name part, and a value
inline constexpr size_t kMaxLabelPrefixLength = 253;  // the key's optional DNS-subdomain prefix
inline constexpr size_t kMaxLabelSelectorLength = 4096;

// A key is [prefix/]name: name 1-63 characters of [A-Za-z0-9._-], beginning and ending with an
// alphanumeric; prefix a DNS subdomain (lower-case labels of [a-z0-9-] joined by dots) of at
// most 253 characters. A value is empty or follows the name's rules. INVALID_ARGUMENT naming
// `field`["key"] and the rule broken.
absl::Status ValidateLabels(const Labels& labels, const std::string& field = "labels");

// An equality-based selector, "a=b,c!=d,e==f": every requirement must hold. An empty selector
// matches everything; a key absent from the labels satisfies != and fails =.
class LabelSelector {
 public:
  // INVALID_ARGUMENT naming `field`, the requirement and what is wrong with it.
  static absl::StatusOr<LabelSelector> Parse(const std::string& text,
                                             const std::string& field = "label_selector");

  bool Matches(const Labels& labels) const;

 private:
  struct Requirement {
    std::string key;
    std::string value;
    bool equal = true;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_LABELS_H_
