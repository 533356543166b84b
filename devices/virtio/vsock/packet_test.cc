#include "devices/virtio/vsock/packet.h"

#include <cstring>
#include <vector>

#include "base/status_matchers.h"
#include "devices/virtio/descriptor_chain.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio::vsock {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using ::vmmd::virtio::testing::kData;
using ::vmmd::virtio::testing::kDescriptorTable;
using ::vmmd::virtio::testing::kMemorySize;
using ::vmmd::virtio::testing::TestDriver;

constexpr uint16_t kSize = 16;

class PacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    driver_.emplace(*memory_, kSize);
  }

  // A chain of readable buffers of `lengths`, back to back from kData, holding `bytes`.
  DescriptorChain Chain(const std::vector<uint32_t>& lengths, const std::vector<uint8_t>& bytes) {
    EXPECT_OK(memory_->WriteBytes(kData, bytes));
    uint64_t address = kData.value();
    for (size_t i = 0; i < lengths.size(); ++i) {
      const bool last = i + 1 == lengths.size();
      driver_->SetDescriptor(static_cast<uint16_t>(i), address, lengths[i],
                             last ? 0 : VRING_DESC_F_NEXT, static_cast<uint16_t>(i + 1));
      address += lengths[i];
    }
    absl::StatusOr<DescriptorChain> chain =
        DescriptorChain::Walk(*memory_, DescriptorTable{kDescriptorTable, kSize, false}, 0);
    EXPECT_OK(chain);
    return *chain;
  }

  std::optional<GuestMemory> memory_;
  std::optional<TestDriver> driver_;
};

std::vector<uint8_t> Bytes(const virtio_vsock_hdr& header) {
  std::vector<uint8_t> bytes(sizeof(header));
  std::memcpy(bytes.data(), &header, sizeof(header));
  return bytes;
}

TEST_F(PacketTest, MakeHeaderIsTheSpecsLittleEndianLayout) {
  const virtio_vsock_hdr header =
      MakeHeader(0x11223344, ConnectionKey{0x40000001, 52}, VIRTIO_VSOCK_OP_RW,
                 VIRTIO_VSOCK_SHUTDOWN_SEND, 0x1234, Credit{0x10000, 0xabcdef01});
  // Golden bytes, field by field (5.10.6).
  const std::vector<uint8_t> expected = {
      2,    0,    0,    0,    0,    0, 0, 0,  // src_cid: the host
      0x44, 0x33, 0x22, 0x11, 0,    0, 0, 0,  // dst_cid: the guest
      0x01, 0,    0,    0x40,                 // src_port: the host's (local) port
      52,   0,    0,    0,                    // dst_port: the guest's port
      0x34, 0x12, 0,    0,                    // len
      1,    0,                                // type: STREAM
      5,    0,                                // op: RW
      2,    0,    0,    0,                    // flags
      0,    0,    1,    0,                    // buf_alloc
      0x01, 0xef, 0xcd, 0xab,                 // fwd_cnt
  };
  EXPECT_EQ(Bytes(header), expected);
}

TEST_F(PacketTest, KeyOfAGuestPacketIsItsDestinationThenItsSource) {
  virtio_vsock_hdr header{};
  header.src_port = 1234;
  header.dst_port = 52;
  EXPECT_EQ(KeyOf(header), (ConnectionKey{52, 1234}));
}

TEST_F(PacketTest, ReadsAHeaderSpreadOverBuffers) {
  virtio_vsock_hdr header{};
  header.src_cid = 3;
  header.dst_cid = 2;
  header.len = 5;
  header.op = VIRTIO_VSOCK_OP_RW;
  header.fwd_cnt = 77;
  std::vector<uint8_t> bytes = Bytes(header);
  for (char c : std::string("hello")) bytes.push_back(static_cast<uint8_t>(c));
  // 1 + 20 + 30 bytes: the header's last bytes share a buffer with the payload.
  DescriptorChain chain = Chain({1, 20, 28}, bytes);
  ASSERT_OK_AND_ASSIGN(virtio_vsock_hdr read, ReadHeader(chain, *memory_));
  EXPECT_EQ(Bytes(read), Bytes(header));
  EXPECT_OK(CheckPayloadLength(read, chain.readable_length()));

  std::vector<iovec> iov;
  ASSERT_OK(AppendHostIovecs(*memory_, chain.readable(), kHeaderSize, 5, iov));
  ASSERT_EQ(iov.size(), 1u);
  EXPECT_EQ(std::string(static_cast<char*>(iov[0].iov_base), iov[0].iov_len), "hello");
  EXPECT_EQ(IovecBytes(iov), 5u);
}

TEST_F(PacketTest, AHeaderOneByteShortIsOutOfRange) {
  std::vector<uint8_t> bytes(kHeaderSize, 0);
  EXPECT_OK(ReadHeader(Chain({kHeaderSize}, bytes), *memory_));
  EXPECT_THAT(ReadHeader(Chain({kHeaderSize - 1}, bytes), *memory_),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("no 44-byte header")));
}

TEST_F(PacketTest, PayloadLengthMustFitTheChainAndTheLimit) {
  virtio_vsock_hdr header{};
  header.len = 10;
  EXPECT_OK(CheckPayloadLength(header, kHeaderSize + 10));
  EXPECT_THAT(CheckPayloadLength(header, kHeaderSize + 9),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("runs past")));
  header.len = kMaxPayload;
  EXPECT_OK(CheckPayloadLength(header, kHeaderSize + kMaxPayload));
  header.len = kMaxPayload + 1;
  EXPECT_THAT(CheckPayloadLength(header, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  // A huge len must not wrap the comparison.
  header.len = 0xffffffff;
  EXPECT_THAT(CheckPayloadLength(header, 0xffffffff),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(PacketTest, IovecsCrossBuffersAndRefuseToRunPastThem) {
  std::vector<uint8_t> bytes(30);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  DescriptorChain chain = Chain({10, 10, 10}, bytes);
  std::vector<iovec> iov;
  ASSERT_OK(AppendHostIovecs(*memory_, chain.readable(), 5, 20, iov));
  std::vector<size_t> lengths;
  std::vector<uint8_t> seen;
  for (const iovec& v : iov) {
    lengths.push_back(v.iov_len);
    const uint8_t* p = static_cast<const uint8_t*>(v.iov_base);
    seen.insert(seen.end(), p, p + v.iov_len);
  }
  EXPECT_THAT(lengths, ElementsAre(5, 10, 5));
  EXPECT_EQ(seen, std::vector<uint8_t>(bytes.begin() + 5, bytes.begin() + 25));
  iov.clear();
  EXPECT_THAT(AppendHostIovecs(*memory_, chain.readable(), 5, 26, iov),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past")));
}

}  // namespace
}  // namespace vmmd::virtio::vsock
