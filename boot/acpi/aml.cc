#include "boot/acpi/aml.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmd::acpi {
namespace {

// Opcodes (20.3).
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0a;
constexpr uint8_t kWordPrefix = 0x0b;
constexpr uint8_t kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kQWordPrefix = 0x0e;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kExtOpPrefix = 0x5b;
constexpr uint8_t kDeviceOp = 0x82;
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kDualNamePrefix = 0x2e;
constexpr uint8_t kMultiNamePrefix = 0x2f;

void Append(Aml& out, const Aml& bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

void AppendLittleEndian(Aml& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// PkgLength (20.2.4): the length of what follows the opcode, itself included; one byte up
// to 63, else a lead byte (count of following bytes in bits 7-6, low nibble in 3-0) and up
// to three more bytes.
absl::StatusOr<Aml> WithPackageLength(uint8_t opcode_prefix, uint8_t opcode, const Aml& body) {
  Aml out;
  if (opcode_prefix != 0) out.push_back(opcode_prefix);
  out.push_back(opcode);
  for (int extra = 0; extra <= 3; ++extra) {
    const size_t total = body.size() + 1 + extra;
    if (extra == 0 ? total > 63 : total >= (size_t{1} << (4 + 8 * extra))) continue;
    if (extra == 0) {
      out.push_back(static_cast<uint8_t>(total));
    } else {
      out.push_back(static_cast<uint8_t>((extra << 6) | (total & 0x0f)));
      for (int i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
    }
    Append(out, body);
    return out;
  }
  return absl::InvalidArgumentError(absl::StrCat("AML package of ", body.size(),
                                                 " bytes: more than a PkgLength can say"));
}

absl::Status CheckSegment(absl::string_view segment, absl::string_view path) {
  if (segment.empty() || segment.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("AML name \"", path, "\": segment \"", segment,
                                                   "\" is not 1 to 4 characters"));
  }
  if (absl::ascii_isdigit(static_cast<unsigned char>(segment[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("AML name \"", path, "\": segment \"", segment, "\" starts with a digit"));
  }
  for (char c : segment) {
    if (!(c >= 'A' && c <= 'Z') && !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '_') {
      return absl::InvalidArgumentError(absl::StrCat(
          "AML name \"", path, "\": segment \"", segment, "\" holds other than [A-Z0-9_]"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Aml> Named(uint8_t opcode_prefix, uint8_t opcode, absl::string_view path,
                          absl::Span<const Aml> body) {
  absl::StatusOr<Aml> name = NameString(path);
  if (!name.ok()) return name.status();
  Aml inner = *name;
  for (const Aml& object : body) Append(inner, object);
  return WithPackageLength(opcode_prefix, opcode, inner);
}

}  // namespace

absl::StatusOr<Aml> NameString(absl::string_view path) {
  Aml out;
  absl::string_view rest = path;
  if (!rest.empty() && rest.front() == '\\') {
    out.push_back(kRootChar);
    rest.remove_prefix(1);
  }
  const std::vector<absl::string_view> segments = absl::StrSplit(rest, '.');
  if (segments.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat("AML name of ", segments.size(), " segments"));
  }
  for (absl::string_view segment : segments) {
    if (absl::Status checked = CheckSegment(segment, path); !checked.ok()) return checked;
  }
  if (segments.size() == 2) out.push_back(kDualNamePrefix);
  if (segments.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segments.size()));
  }
  for (absl::string_view segment : segments) {
    std::string padded(segment);
    padded.resize(4, '_');
    out.insert(out.end(), padded.begin(), padded.end());
  }
  return out;
}

Aml Integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Aml out;
  if (value <= 0xff) {
    out.push_back(kBytePrefix);
    AppendLittleEndian(out, value, 1);
  } else if (value <= 0xffff) {
    out.push_back(kWordPrefix);
    AppendLittleEndian(out, value, 2);
  } else if (value <= 0xffffffff) {
    out.push_back(kDWordPrefix);
    AppendLittleEndian(out, value, 4);
  } else {
    out.push_back(kQWordPrefix);
    AppendLittleEndian(out, value, 8);
  }
  return out;
}

absl::StatusOr<Aml> String(absl::string_view text) {
  if (text.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat("AML string of ", text.size(), " characters"));
  }
  Aml out = {kStringPrefix};
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("AML string holds a byte other than printable ASCII");
    }
    out.push_back(static_cast<uint8_t>(c));
  }
  out.push_back(0);
  return out;
}

absl::StatusOr<Aml> EisaId(absl::string_view id) {
  bool valid = id.size() == 7;
  for (size_t i = 0; valid && i < 3; ++i) valid = id[i] >= 'A' && id[i] <= 'Z';
  for (size_t i = 3; valid && i < 7; ++i) valid = absl::ascii_isxdigit(static_cast<unsigned char>(id[i]));
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("EISA id \"", id, "\" is not three letters and four hex digits"));
  }
  auto hex = [](char c) -> uint32_t {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) ? c - '0' : absl::ascii_toupper(c) - 'A' + 10;
  };
  // Three 5-bit letters and four nibbles, big-endian (the bytes as they read).
  const uint32_t value = ((id[0] - 0x40u) << 26) | ((id[1] - 0x40u) << 21) | ((id[2] - 0x40u) << 16) |
                         (hex(id[3]) << 12) | (hex(id[4]) << 8) | (hex(id[5]) << 4) | hex(id[6]);
  const uint32_t swapped = ((value & 0xff) << 24) | ((value & 0xff00) << 8) |
                           ((value >> 8) & 0xff00) | (value >> 24);
  Aml out = {kDWordPrefix};
  AppendLittleEndian(out, swapped, 4);
  return out;
}

absl::StatusOr<Aml> Package(absl::Span<const Aml> elements) {
  if (elements.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat("AML package of ", elements.size(), " elements"));
  }
  Aml body = {static_cast<uint8_t>(elements.size())};
  for (const Aml& element : elements) Append(body, element);
  return WithPackageLength(0, kPackageOp, body);
}

absl::StatusOr<Aml> Name(absl::string_view path, const Aml& value) {
  absl::StatusOr<Aml> name = NameString(path);
  if (!name.ok()) return name.status();
  Aml out = {kNameOp};
  Append(out, *name);
  Append(out, value);
  return out;
}

absl::StatusOr<Aml> Scope(absl::string_view path, absl::Span<const Aml> body) {
  return Named(0, kScopeOp, path, body);
}

absl::StatusOr<Aml> Device(absl::string_view path, absl::Span<const Aml> body) {
  return Named(kExtOpPrefix, kDeviceOp, path, body);
}

Aml IoPort(uint16_t base, uint8_t length) {
  // Small item 0x08 (I/O Port, 7 bytes): decode16, minimum, maximum, alignment 1, length.
  Aml out = {0x47, 0x01};
  AppendLittleEndian(out, base, 2);
  AppendLittleEndian(out, base, 2);
  out.push_back(1);
  out.push_back(length);
  return out;
}

Aml IrqNoFlags(uint8_t irq) {
  // Small item 0x04 (IRQ, 2 bytes): a mask of IRQs 0-15.
  const uint16_t mask = static_cast<uint16_t>(1u << (irq & 0x0f));
  Aml out = {0x22};
  AppendLittleEndian(out, mask, 2);
  return out;
}

Aml Memory32Fixed(uint32_t base, uint32_t length, bool writable) {
  // Large item 0x06 (9 bytes): read/write flag, base, length.
  Aml out = {0x86, 0x09, 0x00, static_cast<uint8_t>(writable ? 1 : 0)};
  AppendLittleEndian(out, base, 4);
  AppendLittleEndian(out, length, 4);
  return out;
}

Aml ExtendedInterrupt(uint32_t gsi) {
  // Large item 0x09 (6 bytes): flags (bit 0 consumer, bit 1 edge, bit 2 active low, bit 3
  // shared), one interrupt.
  Aml out = {0x89, 0x06, 0x00, 0x03, 0x01};
  AppendLittleEndian(out, gsi, 4);
  return out;
}

absl::StatusOr<Aml> ResourceTemplate(absl::Span<const Aml> descriptors) {
  Aml data;
  for (const Aml& descriptor : descriptors) Append(data, descriptor);
  data.push_back(0x79);  // End Tag (small item 0x0f, 1 byte): checksum 0
  data.push_back(0x00);
  Aml body = Integer(data.size());
  Append(body, data);
  return WithPackageLength(0, kBufferOp, body);
}

}  // namespace vmmd::acpi
