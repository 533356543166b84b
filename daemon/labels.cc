#include "daemon/labels.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmmd {
namespace {

// Empty when `text` is a valid name part or non-empty value; else what is wrong.
std::string NameProblem(const std::string& text) {
  if (text.empty()) return "is empty";
  if (text.size() > kMaxLabelNameLength) {
    return absl::StrCat("is ", text.size(), " characters; the limit is ", kMaxLabelNameLength);
  }
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') {
      return absl::StrCat("holds '", std::string(1, c), "'; only [A-Za-z0-9._-] are allowed");
    }
  }
  if (!absl::ascii_isalnum(text.front()) || !absl::ascii_isalnum(text.back())) {
    return "must begin and end with a letter or digit";
  }
  return "";
}

std::string PrefixProblem(const std::string& prefix) {
  if (prefix.size() > kMaxLabelPrefixLength) {
    return absl::StrCat("prefix is ", prefix.size(), " characters; the limit is ", kMaxLabelPrefixLength);
  }
  for (const absl::string_view part : absl::StrSplit(prefix, '.')) {
    if (part.empty() || part.size() > 63 || part.front() == '-' || part.back() == '-') {
      return "prefix is not a DNS subdomain (lower-case labels of [a-z0-9-] joined by dots)";
    }
    for (char c : part) {
      if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') {
        return "prefix is not a DNS subdomain (lower-case labels of [a-z0-9-] joined by dots)";
      }
    }
  }
  return "";
}

std::string KeyProblem(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) {
    const std::string problem = NameProblem(key);
    return problem.empty() ? "" : absl::StrCat("key ", problem);
  }
  if (std::string problem = PrefixProblem(key.substr(0, slash)); !problem.empty()) return problem;
  const std::string problem = NameProblem(key.substr(slash + 1));
  return problem.empty() ? "" : absl::StrCat("key's name ", problem);
}

std::string ValueProblem(const std::string& value) {
  if (value.empty()) return "";
  const std::string problem = NameProblem(value);
  return problem.empty() ? "" : absl::StrCat("value ", problem);
}

// A printable, bounded rendering of client text for error messages.
std::string Quoted(absl::string_view text) {
  std::string shown(text.substr(0, 80));
  for (char& c : shown) {
    if (!absl::ascii_isprint(c)) c = '?';
  }
  return absl::StrCat("\"", shown, text.size() > 80 ? "...\"" : "\"");
}

}  // namespace

absl::Status ValidateLabels(const Labels& labels, const std::string& field) {
  if (labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", labels.size(), " labels; the limit is ", kMaxLabels));
  }
  for (const auto& [key, value] : labels) {
    std::string problem = KeyProblem(key);
    if (problem.empty()) problem = ValueProblem(value);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", Quoted(key), "]: ", problem));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LabelSelector> LabelSelector::Parse(const std::string& text, const std::string& field) {
  if (text.size() > kMaxLabelSelectorLength) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", text.size(),
                                                   " bytes; the limit is ", kMaxLabelSelectorLength));
  }
  LabelSelector selector;
  if (absl::StripAsciiWhitespace(text).empty()) return selector;
  for (const absl::string_view raw : absl::StrSplit(text, ',')) {
    const absl::string_view part = absl::StripAsciiWhitespace(raw);
    Requirement requirement;
    size_t at = part.find("!=");
    size_t operator_length = 2;
    if (at != absl::string_view::npos) {
      requirement.equal = false;
    } else if ((at = part.find("==")) == absl::string_view::npos) {
      at = part.find('=');
      operator_length = 1;
    }
    if (at == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": requirement ", Quoted(part), " is not key=value, key==value or key!=value"));
    }
    requirement.key = std::string(absl::StripAsciiWhitespace(part.substr(0, at)));
    requirement.value = std::string(absl::StripAsciiWhitespace(part.substr(at + operator_length)));
    std::string problem = KeyProblem(requirement.key);
    if (problem.empty()) problem = ValueProblem(requirement.value);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": requirement ", Quoted(part), ": ", problem));
    }
    selector.requirements_.push_back(std::move(requirement));
  }
  return selector;
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const Requirement& requirement : requirements_) {
    const auto it = labels.find(requirement.key);
    const bool equal = it != labels.end() && it->second == requirement.value;
    if (equal != requirement.equal) return false;
  }
  return true;
}

}  // namespace vmmd
