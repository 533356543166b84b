// A guest's Ethernet address: parsed from the API's "aa:bb:cc:dd:ee:ff", printed back, or
// made up for an interface the client gave none.
#ifndef VMMD_DEVICES_VIRTIO_NET_MAC_ADDRESS_H_
#define VMMD_DEVICES_VIRTIO_NET_MAC_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmd::virtio {

using MacAddress = std::array<uint8_t, 6>;

// Six two-digit hex bytes separated by ':' (either case). INVALID_ARGUMENT, naming `field`,
// for anything else, for a multicast address (the low bit of the first byte) and for
// 00:00:00:00:00:00: a guest's own address must be a unicast one.
absl::StatusOr<MacAddress> ParseMacAddress(absl::string_view text, absl::string_view field);

// "aa:bb:cc:dd:ee:ff", lower case.
std::string FormatMacAddress(const MacAddress& mac);

// A locally administered unicast address (first byte 0x02 set, 0x01 clear, IEEE 802 section
// 8.4) derived from `vm_id` and `iface_id`: the same VM and interface get the same address
// every time, two interfaces of a VM (almost always) different ones.
MacAddress GeneratedMacAddress(absl::string_view vm_id, absl::string_view iface_id);

}  // namespace vmmd::virtio

#endif  // VMMD_DEVICES_VIRTIO_NET_MAC_ADDRESS_H_
