#include "daemon/proto_diff.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"

namespace vmmd {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : absl::StrCat(prefix, ".", name);
}

// A scalar's value (index -1: singular) as text, enough to compare.
std::string ScalarText(const Message& message, const FieldDescriptor* field, int index) {
  std::string text;
  google::protobuf::TextFormat::PrintFieldValueToString(message, field, index, &text);
  return text;
}

std::string Diff(const Message& a, const Message& b, const std::string& prefix);

// A map field's entries by their key's text.
std::map<std::string, const Message*> Entries(const Message& message, const FieldDescriptor* field) {
  const Reflection* reflection = message.GetReflection();
  const FieldDescriptor* key = field->message_type()->map_key();
  std::map<std::string, const Message*> entries;
  for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
    const Message& entry = reflection->GetRepeatedMessage(message, field, i);
    entries[ScalarText(entry, key, -1)] = &entry;
  }
  return entries;
}

std::string DiffMap(const Message& a, const Message& b, const FieldDescriptor* field,
                    const std::string& path) {
  const std::map<std::string, const Message*> left = Entries(a, field), right = Entries(b, field);
  auto l = left.begin();
  auto r = right.begin();
  const FieldDescriptor* value = field->message_type()->map_value();
  while (l != left.end() || r != right.end()) {
    if (r == right.end() || (l != left.end() && l->first < r->first)) return absl::StrCat(path, "[", l->first, "]");
    if (l == left.end() || r->first < l->first) return absl::StrCat(path, "[", r->first, "]");
    const std::string element = absl::StrCat(path, "[", l->first, "]");
    if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const Reflection* reflection = l->second->GetReflection();
      std::string inner = Diff(reflection->GetMessage(*l->second, value),
                               reflection->GetMessage(*r->second, value), element);
      if (!inner.empty()) return inner;
    } else if (ScalarText(*l->second, value, -1) != ScalarText(*r->second, value, -1)) {
      return element;
    }
    ++l;
    ++r;
  }
  return "";
}

std::string Diff(const Message& a, const Message& b, const std::string& prefix) {
  const Reflection* reflection = a.GetReflection();
  const google::protobuf::Descriptor* descriptor = a.GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const FieldDescriptor* field = descriptor->field(f);
    const std::string path = Join(prefix, field->name());
    if (field->is_map()) {
      if (std::string inner = DiffMap(a, b, field, path); !inner.empty()) return inner;
      continue;
    }
    if (field->is_repeated()) {
      const int left = reflection->FieldSize(a, field), right = reflection->FieldSize(b, field);
      for (int i = 0; i < std::min(left, right); ++i) {
        const std::string element = absl::StrCat(path, "[", i, "]");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          std::string inner = Diff(reflection->GetRepeatedMessage(a, field, i),
                                   reflection->GetRepeatedMessage(b, field, i), element);
          if (!inner.empty()) return inner;
        } else if (ScalarText(a, field, i) != ScalarText(b, field, i)) {
          return element;
        }
      }
      if (left != right) return absl::StrCat(path, "[", std::min(left, right), "]");
      continue;
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (reflection->HasField(a, field) != reflection->HasField(b, field)) return path;
      std::string inner = Diff(reflection->GetMessage(a, field), reflection->GetMessage(b, field), path);
      if (!inner.empty()) return inner;
      continue;
    }
    if (ScalarText(a, field, -1) != ScalarText(b, field, -1)) return path;
  }
  return "";
}

}  // namespace

std::string FirstDifference(const Message& a, const Message& b) { return Diff(a, b, ""); }

}  // namespace vmmd
