#include "devices/virtio/block_device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "devices/virtio/virtqueue_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/guest_memory.h"

namespace vmmd::virtio {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using testing::kAvailableRing;
using testing::kData;
using testing::kDescriptorTable;
using testing::kIndirectTables;
using testing::kMemorySize;
using testing::kUsedRing;
using testing::TestDriver;

constexpr uint16_t kSize = 16;
constexpr uint64_t kSectors = 64;
constexpr uint64_t kImageSize = kSectors * 512;
// Where requests live in guest memory: the header, the status byte, the data buffers.
constexpr uint64_t kHeader = kData.value();
constexpr uint64_t kStatus = kData.value() + 0x100;
constexpr uint64_t kBuffer = kData.value() + 0x1000;

constexpr uint64_t Bit(int bit) { return uint64_t{1} << bit; }

// What the image holds at `offset` before a test writes: differs from sector to sector, so a
// read from the wrong sector shows.
uint8_t Pattern(uint64_t offset) { return static_cast<uint8_t>(offset * 7 + offset / 512 * 13); }

struct Segment {
  uint64_t address;
  uint32_t length;
  bool writable;
};

class BlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmpdir = getenv("TEST_TMPDIR");
    path_ = std::string(tmpdir != nullptr ? tmpdir : "/tmp") + "/image-XXXXXX";
    int fd = mkstemp(path_.data());
    ASSERT_GE(fd, 0) << strerror(errno);
    std::vector<uint8_t> bytes(kImageSize);
    for (uint64_t i = 0; i < bytes.size(); ++i) bytes[i] = Pattern(i);
    ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    close(fd);

    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    driver_.emplace(*memory_, kSize);
    ASSERT_OK_AND_ASSIGN(Virtqueue queue, Virtqueue::Create(BlockDevice::kQueueSize));
    queue_.emplace(std::move(queue));
    ASSERT_OK(queue_->SetSize(kSize));
    ASSERT_OK(queue_->SetDescriptorTable(kDescriptorTable));
    ASSERT_OK(queue_->SetAvailableRing(kAvailableRing));
    ASSERT_OK(queue_->SetUsedRing(kUsedRing));
    ASSERT_OK(queue_->SetFeatures(kFeatureIndirectDesc));
    ASSERT_OK(queue_->SetReady(*memory_));
    ASSERT_NO_FATAL_FAILURE(MakeDevice(/*read_only=*/false));
  }

  void TearDown() override { unlink(path_.c_str()); }

  UniqueFd Open(int flags) {
    UniqueFd fd(open(path_.c_str(), flags | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << strerror(errno);
    return fd;
  }

  // The image is opened the way the daemon opens it: read-only for a read-only drive,
  // unless `flags` says otherwise.
  void MakeDevice(bool read_only, const std::string& id = "vda-serial", int flags = -1) {
    if (flags < 0) flags = read_only ? O_RDONLY : O_RDWR;
    ASSERT_OK_AND_ASSIGN(device_, BlockDevice::Create(Open(flags), read_only, id));
  }

  // Descriptors first, first + 1, ... chained in order, then made available.
  void Submit(uint16_t first, const std::vector<Segment>& segments) {
    for (size_t i = 0; i < segments.size(); ++i) {
      uint16_t flags = segments[i].writable ? VRING_DESC_F_WRITE : 0;
      if (i + 1 < segments.size()) flags |= VRING_DESC_F_NEXT;
      driver_->SetDescriptor(static_cast<uint16_t>(first + i), segments[i].address,
                             segments[i].length, flags, static_cast<uint16_t>(first + i + 1));
    }
    driver_->MakeAvailable(first);
  }

  void WriteHeader(uint32_t type, uint64_t sector, uint64_t address = kHeader) {
    virtio_blk_outhdr header{};
    header.type = type;
    header.ioprio = 0;
    header.sector = sector;
    ASSERT_OK(memory_->Write(GuestAddress(address), header));
  }

  // The usual framing: a header descriptor, one data descriptor (writable unless T_OUT; none
  // if data_length is 0), and a status descriptor whose byte starts as 0xff.
  void SubmitRequest(uint32_t type, uint64_t sector, uint32_t data_length) {
    WriteHeader(type, sector);
    ASSERT_OK(memory_->Write<uint8_t>(GuestAddress(kStatus), 0xff));
    std::vector<Segment> segments = {{kHeader, 16, false}};
    if (data_length > 0) segments.push_back({kBuffer, data_length, type != VIRTIO_BLK_T_OUT});
    segments.push_back({kStatus, 1, true});
    Submit(0, segments);
  }

  void Process() { ASSERT_OK(device_->ProcessQueue(0, *queue_, *memory_)); }

  uint8_t Status() {
    absl::StatusOr<uint8_t> status = memory_->Read<uint8_t>(GuestAddress(kStatus));
    EXPECT_OK(status);
    return status.value_or(0xee);
  }
  // The used element of the last request.
  uint32_t UsedLength() {
    EXPECT_GT(driver_->UsedIdx(), 0);
    return driver_->UsedElement(static_cast<uint16_t>((driver_->UsedIdx() - 1) % kSize)).len;
  }

  std::vector<uint8_t> Guest(uint64_t address, size_t length) {
    std::vector<uint8_t> out(length);
    EXPECT_OK(memory_->ReadBytes(GuestAddress(address), absl::MakeSpan(out)));
    return out;
  }
  std::vector<uint8_t> File(uint64_t offset, size_t length) {
    std::vector<uint8_t> out(length);
    UniqueFd fd = Open(O_RDONLY);
    EXPECT_EQ(pread(fd.get(), out.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    return out;
  }
  static std::vector<uint8_t> Original(uint64_t offset, size_t length) {
    std::vector<uint8_t> out(length);
    for (size_t i = 0; i < length; ++i) out[i] = Pattern(offset + i);
    return out;
  }

  std::string path_;
  std::unique_ptr<BlockDevice> device_;
  std::optional<GuestMemory> memory_;
  std::optional<TestDriver> driver_;
  std::optional<Virtqueue> queue_;
};

TEST_F(BlockDeviceTest, IsABlockDeviceWithOneQueueOfTheImagesSize) {
  EXPECT_EQ(device_->device_id(), 2u);
  EXPECT_EQ(device_->queue_max_sizes(), std::vector<uint16_t>{256});
  EXPECT_EQ(device_->capacity(), kSectors);
}

TEST_F(BlockDeviceTest, OffersSegMaxBlkSizeFlushAndRingFeatures) {
  const uint64_t expected = Bit(2) | Bit(6) | Bit(9) | kFeatureIndirectDesc | kFeatureEventIdx;
  EXPECT_EQ(device_->offered_features(), expected);
  MakeDevice(/*read_only=*/true);
  EXPECT_EQ(device_->offered_features(), expected | Bit(5));  // VIRTIO_BLK_F_RO
}

TEST_F(BlockDeviceTest, ConfigSpaceHasCapacitySegMaxAndBlockSize) {
  std::vector<uint8_t> config(64, 0xaa);
  device_->ReadConfig(0, absl::MakeSpan(config));
  uint64_t capacity;
  uint32_t seg_max, size_max, blk_size;
  std::memcpy(&capacity, &config[0], 8);
  std::memcpy(&size_max, &config[8], 4);
  std::memcpy(&seg_max, &config[12], 4);
  std::memcpy(&blk_size, &config[20], 4);
  EXPECT_EQ(capacity, kSectors);
  EXPECT_EQ(size_max, 0u);
  EXPECT_EQ(seg_max, 254u);
  EXPECT_EQ(blk_size, 512u);
  // The geometry and everything after blk_size are 0, including the bytes beyond the struct.
  EXPECT_EQ(std::vector<uint8_t>(config.begin() + 16, config.begin() + 20),
            std::vector<uint8_t>(4, 0));
  EXPECT_EQ(std::vector<uint8_t>(config.begin() + 24, config.end()), std::vector<uint8_t>(40, 0));
}

TEST_F(BlockDeviceTest, ConfigReadsAtAnyOffsetAndLength) {
  // One byte of seg_max (254 = 0xfe, little-endian), then a read straddling the end.
  std::vector<uint8_t> byte(1, 0xaa);
  device_->ReadConfig(12, absl::MakeSpan(byte));
  EXPECT_EQ(byte[0], 0xfe);
  device_->ReadConfig(21, absl::MakeSpan(byte));
  EXPECT_EQ(byte[0], 0x02);  // 512 = 0x200
  const uint64_t end = sizeof(virtio_blk_config);
  std::vector<uint8_t> straddle(8, 0xaa);
  device_->ReadConfig(end - 2, absl::MakeSpan(straddle));
  EXPECT_EQ(straddle, std::vector<uint8_t>(8, 0));
  std::vector<uint8_t> far(4, 0xaa);
  device_->ReadConfig(UINT64_MAX - 1, absl::MakeSpan(far));
  EXPECT_EQ(far, std::vector<uint8_t>(4, 0));
  // Writes change nothing.
  const uint8_t zeros[8] = {};
  device_->WriteConfig(0, zeros);
  std::vector<uint8_t> capacity(8);
  device_->ReadConfig(0, absl::MakeSpan(capacity));
  EXPECT_EQ(capacity[0], kSectors);
}

TEST_F(BlockDeviceTest, ReadsSectorsIntoTheWritableBuffer) {
  SubmitRequest(VIRTIO_BLK_T_IN, 3, 1024);
  Process();
  ASSERT_EQ(driver_->UsedIdx(), 1);
  EXPECT_EQ(driver_->UsedElement(0).id, 0u);
  EXPECT_EQ(UsedLength(), 1025u);  // the data and the status byte
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(Guest(kBuffer, 1024), Original(3 * 512, 1024));
  EXPECT_EQ(Guest(kBuffer + 1024, 1), std::vector<uint8_t>{0});  // nothing past the buffer
  DeviceCounters counters = device_->counters();
  EXPECT_EQ(counters.requests, 1u);
  EXPECT_EQ(counters.bytes_read, 1024u);
  EXPECT_EQ(counters.bytes_written, 0u);
  EXPECT_EQ(counters.errors, 0u);
}

TEST_F(BlockDeviceTest, AReadSpansSeveralDataBuffers) {
  // Three data buffers of different sizes, apart in guest memory, from an indirect table.
  WriteHeader(VIRTIO_BLK_T_IN, 10);
  const uint64_t table = kIndirectTables.value();
  driver_->SetIndirect(GuestAddress(table), 0, kHeader, 16, VRING_DESC_F_NEXT, 1);
  driver_->SetIndirect(GuestAddress(table), 1, kBuffer, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
  driver_->SetIndirect(GuestAddress(table), 2, kBuffer + 0x3000, 1024,
                       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
  driver_->SetIndirect(GuestAddress(table), 3, kBuffer + 0x8000, 512,
                       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
  driver_->SetIndirect(GuestAddress(table), 4, kStatus, 1, VRING_DESC_F_WRITE);
  driver_->SetDescriptor(0, table, 5 * 16, VRING_DESC_F_INDIRECT);
  driver_->MakeAvailable(0);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(UsedLength(), 2049u);
  EXPECT_EQ(Guest(kBuffer, 512), Original(10 * 512, 512));
  EXPECT_EQ(Guest(kBuffer + 0x3000, 1024), Original(11 * 512, 1024));
  EXPECT_EQ(Guest(kBuffer + 0x8000, 512), Original(13 * 512, 512));
}

TEST_F(BlockDeviceTest, AnyFramingWorks) {
  // One readable buffer holding the header and the data of a write, and for the read back one
  // writable buffer holding the data and the status byte (VIRTIO_F_ANY_LAYOUT).
  WriteHeader(VIRTIO_BLK_T_OUT, 7, kBuffer);
  std::vector<uint8_t> data(512);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i ^ 0x3c);
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kBuffer + 16), data));
  ASSERT_OK(memory_->Write<uint8_t>(GuestAddress(kStatus), 0xff));
  Submit(0, {{kBuffer, 16 + 512, false}, {kStatus, 1, true}});
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(File(7 * 512, 512), data);

  WriteHeader(VIRTIO_BLK_T_IN, 7);
  const uint64_t combined = kBuffer + 0x4000;
  ASSERT_OK(memory_->Write<uint8_t>(GuestAddress(combined + 512), 0xff));
  Submit(2, {{kHeader, 16, false}, {combined, 513, true}});
  Process();
  EXPECT_EQ(Guest(combined, 512), data);
  EXPECT_EQ(Guest(combined + 512, 1), std::vector<uint8_t>{VIRTIO_BLK_S_OK});
  EXPECT_EQ(UsedLength(), 513u);
}

TEST_F(BlockDeviceTest, WritesReachTheFileAndReadBack) {
  std::vector<uint8_t> data(1024);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(255 - i % 251);
  ASSERT_OK(memory_->WriteBytes(GuestAddress(kBuffer), data));
  SubmitRequest(VIRTIO_BLK_T_OUT, 20, 1024);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(UsedLength(), 1u);  // a write gives the guest only its status byte
  EXPECT_EQ(File(20 * 512, 1024), data);
  // The neighbours are untouched.
  EXPECT_EQ(File(19 * 512, 512), Original(19 * 512, 512));
  EXPECT_EQ(File(22 * 512, 512), Original(22 * 512, 512));

  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0, 1024));
  SubmitRequest(VIRTIO_BLK_T_IN, 20, 1024);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(Guest(kBuffer, 1024), data);
  DeviceCounters counters = device_->counters();
  EXPECT_EQ(counters.requests, 2u);
  EXPECT_EQ(counters.bytes_written, 1024u);
  EXPECT_EQ(counters.bytes_read, 1024u);
}

TEST_F(BlockDeviceTest, ReadOnlyDeviceRefusesWritesAndStillReads) {
  // A writable fd: the refusal must come from the device, not from the kernel's EBADF.
  MakeDevice(/*read_only=*/true, "vda-serial", O_RDWR);
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0x77, 512));
  SubmitRequest(VIRTIO_BLK_T_OUT, 0, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(UsedLength(), 1u);
  EXPECT_EQ(File(0, 512), Original(0, 512));
  EXPECT_EQ(device_->counters().errors, 1u);
  EXPECT_EQ(device_->counters().bytes_written, 0u);

  SubmitRequest(VIRTIO_BLK_T_IN, 1, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(Guest(kBuffer, 512), Original(512, 512));
}

TEST_F(BlockDeviceTest, FlushSucceeds) {
  SubmitRequest(VIRTIO_BLK_T_FLUSH, 0, 0);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(UsedLength(), 1u);
  MakeDevice(/*read_only=*/true);
  SubmitRequest(VIRTIO_BLK_T_FLUSH, 0, 0);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(device_->counters().errors, 0u);
}

TEST_F(BlockDeviceTest, GetIdGivesTheIdZeroPadded) {
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0xaa, 20));
  SubmitRequest(VIRTIO_BLK_T_GET_ID, 0, 20);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(UsedLength(), 21u);
  std::vector<uint8_t> expected(20, 0);
  std::memcpy(expected.data(), "vda-serial", 10);
  EXPECT_EQ(Guest(kBuffer, 20), expected);
}

TEST_F(BlockDeviceTest, GetIdIsTruncatedToTheBuffer) {
  MakeDevice(/*read_only=*/false, "abcdefghijklmnopqrst");  // exactly 20 bytes: no NUL
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0xaa, 16));
  SubmitRequest(VIRTIO_BLK_T_GET_ID, 0, 8);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(UsedLength(), 9u);
  std::vector<uint8_t> expected = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
  EXPECT_EQ(Guest(kBuffer, 8), expected);
  EXPECT_EQ(Guest(kBuffer + 8, 8), std::vector<uint8_t>(8, 0xaa));

  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0xaa, 32));
  SubmitRequest(VIRTIO_BLK_T_GET_ID, 0, 32);
  Process();
  EXPECT_EQ(UsedLength(), 21u);
  const std::string id = "abcdefghijklmnopqrst";
  EXPECT_EQ(Guest(kBuffer, 20), std::vector<uint8_t>(id.begin(), id.end()));
  EXPECT_EQ(Guest(kBuffer + 20, 11), std::vector<uint8_t>(11, 0xaa));  // nothing past the id
}

TEST_F(BlockDeviceTest, UnknownTypesAreUnsupported) {
  for (uint32_t type : {2u, 11u, 13u, 0x80000000u}) {
    SubmitRequest(type, 0, 512);
    Process();
    EXPECT_EQ(Status(), VIRTIO_BLK_S_UNSUPP) << "type " << type;
    EXPECT_EQ(UsedLength(), 1u) << "type " << type;
  }
  EXPECT_EQ(device_->counters().errors, 4u);
  EXPECT_EQ(device_->counters().requests, 4u);
}

TEST_F(BlockDeviceTest, SectorsPastTheEndAreAnIoError) {
  // The last sector exactly fits; one more, or starting at the capacity, does not.
  SubmitRequest(VIRTIO_BLK_T_IN, kSectors - 1, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(Guest(kBuffer, 512), Original((kSectors - 1) * 512, 512));
  SubmitRequest(VIRTIO_BLK_T_IN, kSectors - 1, 1024);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(UsedLength(), 1u);
  SubmitRequest(VIRTIO_BLK_T_IN, kSectors, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0x99, 512));
  SubmitRequest(VIRTIO_BLK_T_OUT, kSectors, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(device_->counters().errors, 3u);
  EXPECT_EQ(device_->counters().bytes_read, 512u);
  // The file did not grow.
  UniqueFd fd = Open(O_RDONLY);
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_END), static_cast<off_t>(kImageSize));
}

TEST_F(BlockDeviceTest, SectorTimes512OverflowIsAnIoError) {
  // 2^55 * 512 wraps to 0: a naive check would read and write sector 0.
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0x55, 512));
  SubmitRequest(VIRTIO_BLK_T_OUT, uint64_t{1} << 55, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(File(0, 512), Original(0, 512));
  SubmitRequest(VIRTIO_BLK_T_IN, uint64_t{1} << 55, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(Guest(kBuffer, 512), std::vector<uint8_t>(512, 0x55));
  SubmitRequest(VIRTIO_BLK_T_IN, UINT64_MAX, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
}

TEST_F(BlockDeviceTest, DataNotAMultipleOf512IsAnIoError) {
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0x44, 1024));
  SubmitRequest(VIRTIO_BLK_T_IN, 0, 513);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(UsedLength(), 1u);
  EXPECT_EQ(Guest(kBuffer, 513), std::vector<uint8_t>(513, 0x44));
  SubmitRequest(VIRTIO_BLK_T_OUT, 0, 100);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(File(0, 512), Original(0, 512));
  EXPECT_EQ(device_->counters().errors, 2u);
}

TEST_F(BlockDeviceTest, AChainWithoutStatusByteComesBackEmpty) {
  // A header and readable data, nothing writable: no status to write.
  WriteHeader(VIRTIO_BLK_T_OUT, 0);
  ASSERT_OK(memory_->Fill(GuestAddress(kBuffer), 0x33, 512));
  Submit(0, {{kHeader, 16, false}, {kBuffer, 512, false}});
  Process();
  ASSERT_EQ(driver_->UsedIdx(), 1);
  EXPECT_EQ(UsedLength(), 0u);
  EXPECT_EQ(File(0, 512), Original(0, 512));
  EXPECT_EQ(device_->counters().errors, 1u);
  EXPECT_EQ(device_->counters().requests, 1u);
}

TEST_F(BlockDeviceTest, AChainWithoutHeaderComesBackEmpty) {
  // Only writable buffers, then a header cut short: neither is a request; status untouched.
  ASSERT_OK(memory_->Write<uint8_t>(GuestAddress(kStatus), 0xff));
  Submit(0, {{kBuffer, 512, true}, {kStatus, 1, true}});
  WriteHeader(VIRTIO_BLK_T_IN, 0);
  Submit(2, {{kHeader, 15, false}, {kBuffer, 512, true}, {kStatus, 1, true}});
  Process();
  ASSERT_EQ(driver_->UsedIdx(), 2);
  EXPECT_EQ(driver_->UsedElement(0).len, 0u);
  EXPECT_EQ(driver_->UsedElement(1).id, 2u);
  EXPECT_EQ(driver_->UsedElement(1).len, 0u);
  EXPECT_EQ(Status(), 0xff);
  EXPECT_EQ(Guest(kBuffer, 512), std::vector<uint8_t>(512, 0));
  EXPECT_EQ(device_->counters().errors, 2u);
}

TEST_F(BlockDeviceTest, ServesEveryAvailableChainInOrder) {
  // A read of sector 1 and a write of sector 2 in one notification, each with its status.
  const uint64_t header2 = kHeader + 0x40, status2 = kStatus + 0x40, buffer2 = kBuffer + 0x2000;
  WriteHeader(VIRTIO_BLK_T_IN, 1);
  WriteHeader(VIRTIO_BLK_T_OUT, 2, header2);
  ASSERT_OK(memory_->Fill(GuestAddress(buffer2), 0x21, 512));
  Submit(0, {{kHeader, 16, false}, {kBuffer, 512, true}, {kStatus, 1, true}});
  Submit(3, {{header2, 16, false}, {buffer2, 512, false}, {status2, 1, true}});
  Process();
  ASSERT_EQ(driver_->UsedIdx(), 2);
  EXPECT_EQ(driver_->UsedElement(0).len, 513u);
  EXPECT_EQ(driver_->UsedElement(1).id, 3u);
  EXPECT_EQ(driver_->UsedElement(1).len, 1u);
  EXPECT_EQ(Guest(kBuffer, 512), Original(512, 512));
  EXPECT_EQ(File(1024, 512), std::vector<uint8_t>(512, 0x21));
  EXPECT_EQ(Status(), VIRTIO_BLK_S_OK);
  EXPECT_EQ(Guest(status2, 1), std::vector<uint8_t>{VIRTIO_BLK_S_OK});
}

TEST_F(BlockDeviceTest, AnImageThatShrankIsAnIoError) {
  ASSERT_EQ(truncate(path_.c_str(), 10 * 512), 0);
  SubmitRequest(VIRTIO_BLK_T_IN, 9, 1024);  // the first sector is there, the second is not
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(device_->counters().bytes_read, 0u);
}

TEST_F(BlockDeviceTest, ABrokenRingOrABadQueueIsAnError) {
  EXPECT_THAT(device_->ProcessQueue(1, *queue_, *memory_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queue index 1")));
  driver_->SetAvailIdx(kSize + 1);
  EXPECT_EQ(device_->ProcessQueue(0, *queue_, *memory_).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BlockDeviceTest, CapacityRoundsDownToWholeSectors) {
  ASSERT_EQ(truncate(path_.c_str(), kImageSize + 100), 0);
  MakeDevice(/*read_only=*/false);
  EXPECT_EQ(device_->capacity(), kSectors);
  ASSERT_EQ(truncate(path_.c_str(), 511), 0);
  MakeDevice(/*read_only=*/false);
  EXPECT_EQ(device_->capacity(), 0u);
  SubmitRequest(VIRTIO_BLK_T_IN, 0, 512);
  Process();
  EXPECT_EQ(Status(), VIRTIO_BLK_S_IOERR);
}

TEST_F(BlockDeviceTest, CreateRefusesALongDriveId) {
  EXPECT_OK(BlockDevice::Create(Open(O_RDWR), false, std::string(20, 'x')));
  EXPECT_THAT(BlockDevice::Create(Open(O_RDWR), false, std::string(21, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("drive id"), HasSubstr("20"))));
}

TEST_F(BlockDeviceTest, CreateRefusesBadImages) {
  EXPECT_THAT(BlockDevice::Create(UniqueFd(), true, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not open")));
  const char* tmpdir = getenv("TEST_TMPDIR");
  UniqueFd directory(open(tmpdir != nullptr ? tmpdir : "/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(directory.valid());
  EXPECT_THAT(BlockDevice::Create(std::move(directory), true, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("regular file")));
  // A read-write drive needs a writable fd; a read-only one is content with either.
  EXPECT_THAT(BlockDevice::Create(Open(O_RDONLY), false, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("read_only")));
  EXPECT_OK(BlockDevice::Create(Open(O_RDWR), true, "x"));
}

}  // namespace
}  // namespace vmmd::virtio
