// Tap against the real /dev/net/tun: the tests run as root (CAP_NET_ADMIN). Interfaces are
// named after the test process, so that concurrent runs do not collide; the non-persistent
// ones vanish with their fds, the one persistent one is removed by its fixture.
#include "devices/virtio/net/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/net/net_header.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::virtio {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::vmmd::testing::StatusIs;

// Local experimental Ethertype (IEEE 802): no host protocol answers or sends it.
constexpr uint16_t kEtherType = 0x88b5;

std::string Name(absl::string_view suffix) {
  return absl::StrCat("vmt", getpid(), suffix);
}

bool InterfaceExists(const std::string& name) { return if_nametoindex(name.c_str()) != 0; }

// A socket for interface ioctls (SIOCSIFFLAGS, SIOCETHTOOL).
UniqueFd ControlSocket() {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid()) << strerror(errno);
  return fd;
}

// ETHTOOL_GTSO / ETHTOOL_GTXCSUM: whether the interface has the offload on.
uint32_t EthtoolValue(const std::string& name, uint32_t command) {
  UniqueFd control = ControlSocket();
  ethtool_value value{};
  value.cmd = command;
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  request.ifr_data = reinterpret_cast<char*>(&value);
  EXPECT_EQ(ioctl(control.get(), SIOCETHTOOL, &request), 0) << strerror(errno);
  return value.data;
}

void BringUp(const std::string& name) {
  UniqueFd control = ControlSocket();
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ASSERT_EQ(ioctl(control.get(), SIOCGIFFLAGS, &request), 0) << strerror(errno);
  request.ifr_flags |= IFF_UP;
  ASSERT_EQ(ioctl(control.get(), SIOCSIFFLAGS, &request), 0) << strerror(errno);
}

// An Ethernet frame to everyone, of kEtherType, with `payload`.
std::vector<uint8_t> Frame(const std::string& payload) {
  std::vector<uint8_t> frame(6, 0xff);
  for (uint8_t b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}) frame.push_back(b);
  frame.push_back(kEtherType >> 8);
  frame.push_back(kEtherType & 0xff);
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

// Reads from `fd` until a read's bytes from `offset` on are an Ethernet frame of kEtherType
// (other traffic on a new interface, IPv6 router solicitations say, is skipped), or a few
// seconds pass (a failure, not a timing goal: the kernel delivers in microseconds).
std::vector<uint8_t> ReadOurFrame(int fd, size_t offset) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::vector<uint8_t> buffer(kMaxPacketLength);
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got < 0) {
      EXPECT_EQ(errno, EAGAIN) << strerror(errno);
      continue;
    }
    const size_t length = static_cast<size_t>(got);
    if (length >= offset + ETH_HLEN && buffer[offset + 12] == (kEtherType >> 8) &&
        buffer[offset + 13] == (kEtherType & 0xff)) {
      buffer.resize(length);
      return buffer;
    }
  }
  ADD_FAILURE() << "no frame of Ethertype 0x88b5 arrived";
  return {};
}

TEST(TapTest, RefusesNamesLinuxRefuses) {
  for (const std::string& name :
       {std::string(), std::string(16, 'a'), std::string("a/b"), std::string("a:b"),
        std::string("a b"), std::string("."), std::string(".."), std::string("a\0b", 3)}) {
    EXPECT_THAT(Tap::Open(name), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")))
        << "name \"" << name << "\"";
  }
  EXPECT_THAT(Tap::Open(std::string(16, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 15")));
}

TEST(TapTest, CreatesANonPersistentTapThatGoesAwayWithItsFd) {
  // 15 bytes: the longest name Linux takes.
  const std::string name = absl::StrFormat("vmt%012d", getpid());
  ASSERT_EQ(name.size(), 15u);
  ASSERT_FALSE(InterfaceExists(name));
  {
    ASSERT_OK_AND_ASSIGN(Tap tap, Tap::Open(name));
    EXPECT_EQ(tap.name(), name);
    EXPECT_FALSE(tap.pre_existing());
    EXPECT_TRUE(InterfaceExists(name));

    ifreq flags{};
    ASSERT_EQ(ioctl(tap.fd(), TUNGETIFF, &flags), 0) << strerror(errno);
    EXPECT_EQ(flags.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_PERSIST),
              IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    int header_size = 0;
    ASSERT_EQ(ioctl(tap.fd(), TUNGETVNETHDRSZ, &header_size), 0) << strerror(errno);
    EXPECT_EQ(header_size, 12);
    EXPECT_NE(fcntl(tap.fd(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_NE(fcntl(tap.fd(), F_GETFD) & FD_CLOEXEC, 0);

    // A duplicate keeps the interface alive after the Tap goes.
    ASSERT_OK_AND_ASSIGN(UniqueFd copy, tap.Duplicate());
    EXPECT_NE(fcntl(copy.get(), F_GETFD) & FD_CLOEXEC, 0);
    Tap moved = std::move(tap);
    { Tap gone = std::move(moved); }
    EXPECT_TRUE(InterfaceExists(name));
  }
  EXPECT_FALSE(InterfaceExists(name));
}

TEST(TapTest, TheKernelNumbersATemplateName) {
  ASSERT_OK_AND_ASSIGN(Tap tap, Tap::Open("vmtt%d"));
  EXPECT_THAT(tap.name(), StartsWith("vmtt"));
  EXPECT_EQ(tap.name().find('%'), std::string::npos);
  EXPECT_TRUE(InterfaceExists(tap.name()));
}

TEST(TapTest, RefusesAnInterfaceThatIsNotATap) {
  EXPECT_THAT(Tap::Open("lo"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TUNSETIFF(lo")));
}

TEST(TapTest, RefusesATapInUseByAnotherFd) {
  const std::string name = Name("b");
  ASSERT_OK_AND_ASSIGN(Tap first, Tap::Open(name));
  EXPECT_THAT(Tap::Open(name), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr(absl::StrCat("TUNSETIFF(", name))));
}

class PersistentTapTest : public ::testing::Test {
 protected:
  // A tap as `ip tuntap add NAME mode tap` leaves it: persistent, no fd open.
  void SetUp() override {
    UniqueFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid()) << strerror(errno);
    ifreq request{};
    std::strncpy(request.ifr_name, name_.c_str(), IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
    ASSERT_EQ(ioctl(fd.get(), TUNSETIFF, &request), 0) << strerror(errno);
    ASSERT_EQ(ioctl(fd.get(), TUNSETPERSIST, 1), 0) << strerror(errno);
  }
  // `ip tuntap del`: persistence off, then the last fd closes.
  void TearDown() override {
    UniqueFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    ifreq request{};
    std::strncpy(request.ifr_name, name_.c_str(), IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd.get(), TUNSETIFF, &request) == 0) ioctl(fd.get(), TUNSETPERSIST, 0);
    fd.Reset();
    EXPECT_FALSE(InterfaceExists(name_));
  }
  const std::string name_ = Name("p");
};

TEST_F(PersistentTapTest, AttachesToAnExistingTapAndLeavesIt) {
  ASSERT_TRUE(InterfaceExists(name_));
  {
    ASSERT_OK_AND_ASSIGN(Tap tap, Tap::Open(name_));
    EXPECT_EQ(tap.name(), name_);
    EXPECT_TRUE(tap.pre_existing());
    int header_size = 0;
    ASSERT_EQ(ioctl(tap.fd(), TUNGETVNETHDRSZ, &header_size), 0) << strerror(errno);
    EXPECT_EQ(header_size, 12);
  }
  EXPECT_TRUE(InterfaceExists(name_));
}

TEST(TapTest, SetOffloadTurnsTheInterfacesOffloadsOnAndOff) {
  ASSERT_OK_AND_ASSIGN(Tap tap, Tap::Open(Name("o")));
  EXPECT_EQ(EthtoolValue(tap.name(), ETHTOOL_GTSO), 0u);
  ASSERT_OK(tap.SetOffload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
  EXPECT_EQ(EthtoolValue(tap.name(), ETHTOOL_GTSO), 1u);
  EXPECT_EQ(EthtoolValue(tap.name(), ETHTOOL_GTXCSUM), 1u);
  ASSERT_OK(tap.SetOffload(TUN_F_CSUM));
  EXPECT_EQ(EthtoolValue(tap.name(), ETHTOOL_GTSO), 0u);
  EXPECT_EQ(EthtoolValue(tap.name(), ETHTOOL_GTXCSUM), 1u);
  ASSERT_OK(tap.SetOffload(0));
  EXPECT_EQ(EthtoolValue(tap.name(), ETHTOOL_GTXCSUM), 0u);
  // Flags the kernel does not know.
  EXPECT_THAT(tap.SetOffload(0x80000000u),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(absl::StrCat("TUNSETOFFLOAD(", tap.name(), ", 0x80000000)"))));
}

// Packets through a real tap, each way, with the 12-byte header NetDevice relies on.
TEST(TapTest, PacketsCarryATwelveByteVirtioNetHeader) {
  ASSERT_OK_AND_ASSIGN(Tap tap, Tap::Open(Name("d")));
  ASSERT_NO_FATAL_FAILURE(BringUp(tap.name()));
  const int index = static_cast<int>(if_nametoindex(tap.name().c_str()));
  ASSERT_NE(index, 0);
  UniqueFd packet(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(kEtherType)));
  ASSERT_TRUE(packet.valid()) << strerror(errno);
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(kEtherType);
  address.sll_ifindex = index;
  ASSERT_EQ(bind(packet.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
      << strerror(errno);

  // Guest to host: a header (no offload) and a frame written to the tap come out of the
  // interface as the frame alone.
  const std::vector<uint8_t> out_frame = Frame("from the guest");
  std::vector<uint8_t> out(kNetHeaderSize, 0);
  out.insert(out.end(), out_frame.begin(), out_frame.end());
  ASSERT_EQ(write(tap.fd(), out.data(), out.size()), static_cast<ssize_t>(out.size()))
      << strerror(errno);
  EXPECT_EQ(ReadOurFrame(packet.get(), 0), out_frame);

  // Host to guest: a frame sent on the interface reads from the tap after 12 header bytes.
  const std::vector<uint8_t> in_frame = Frame("to the guest, a little longer");
  ASSERT_EQ(sendto(packet.get(), in_frame.data(), in_frame.size(), 0,
                   reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            static_cast<ssize_t>(in_frame.size()))
      << strerror(errno);
  const std::vector<uint8_t> in = ReadOurFrame(tap.fd(), kNetHeaderSize);
  ASSERT_EQ(in.size(), kNetHeaderSize + in_frame.size());
  EXPECT_EQ(std::vector<uint8_t>(in.begin() + kNetHeaderSize, in.end()), in_frame);
  virtio_net_hdr_v1 header;
  std::memcpy(&header, in.data(), sizeof(header));
  EXPECT_EQ(header.gso_type, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_EQ(header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, 0);
}

}  // namespace
}  // namespace vmmd::virtio
