#include "devices/virtio/net/mac_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmmd::virtio {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

}  // namespace

absl::StatusOr<MacAddress> ParseMacAddress(absl::string_view text, absl::string_view field) {
  const auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (text.size() != 17) return refuse("must be six hex bytes as aa:bb:cc:dd:ee:ff");
  MacAddress mac;
  for (size_t i = 0; i < mac.size(); ++i) {
    const int high = HexDigit(text[3 * i]), low = HexDigit(text[3 * i + 1]);
    if (high < 0 || low < 0 || (i + 1 < mac.size() && text[3 * i + 2] != ':')) {
      return refuse("must be six hex bytes as aa:bb:cc:dd:ee:ff");
    }
    mac[i] = static_cast<uint8_t>(high << 4 | low);
  }
  if (mac[0] & 0x01) return refuse("is a multicast address; a guest's address must be unicast");
  if (mac == MacAddress{}) return refuse("00:00:00:00:00:00 is not an address");
  return mac;
}

std::string FormatMacAddress(const MacAddress& mac) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                         mac[5]);
}

MacAddress GeneratedMacAddress(absl::string_view vm_id, absl::string_view iface_id) {
  // FNV-1a over "vm_id/iface_id": stable across daemon restarts and builds (std::hash is not).
  uint64_t hash = 0xcbf29ce484222325ull;
  for (absl::string_view part : {vm_id, absl::string_view("/"), iface_id}) {
    for (unsigned char c : part) hash = (hash ^ c) * 0x100000001b3ull;
  }
  MacAddress mac;
  for (size_t i = 0; i < mac.size(); ++i) mac[i] = static_cast<uint8_t>(hash >> (8 * i));
  mac[0] = static_cast<uint8_t>((mac[0] & ~0x01) | 0x02);  // unicast, locally administered
  return mac;
}

}  // namespace vmmd::virtio
