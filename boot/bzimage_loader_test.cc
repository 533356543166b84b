// The bzImage loader against synthetic bzImages built here: a boot sector and setup sectors
// holding the setup header at 0x1f1 (Documentation/arch/x86/boot.rst), then a
// protected-mode payload of recognisable bytes.
#include "boot/bzimage_loader.h"

#include <asm/bootparam.h>
#include <elf.h>

#include <cstring>
#include <vector>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kSector = 512;
constexpr uint8_t kSetupFiller = 0x5e;  // what the boot sector and setup code hold
constexpr uint64_t kPrefAddress = 0x1000000;
constexpr uint32_t kInitSize = 0x800000;
// The default image needs [1 MiB, pref_address + init_size) = [1 MiB, 24 MiB).
constexpr uint64_t kDefaultEnd = kPrefAddress + kInitSize;

// The header of a 2.15 (Linux 5.x/6.x) x86_64 bzImage, in the fields the loader reads.
setup_header GoodHeader() {
  setup_header header = {};
  header.setup_sects = 4;
  header.boot_flag = 0xaa55;
  // A short jump over the header: its target 0x202 + 0x6a = 0x26c is the header's end.
  header.jump = 0xeb | ((0x26c - 0x202) << 8);
  header.header = 0x53726448;  // "HdrS"
  header.version = 0x020f;
  header.loadflags = LOADED_HIGH;
  header.xloadflags = XLF_KERNEL_64;
  header.relocatable_kernel = 1;
  header.kernel_alignment = 0x200000;
  header.pref_address = kPrefAddress;
  header.init_size = kInitSize;
  header.cmdline_size = 2047;
  header.initrd_addr_max = 0x7fffffff;
  header.handover_offset = 0x190;
  header.kernel_info_offset = 0x12345;
  return header;
}

// Recognisable payload bytes: no byte run repeats with period 512 or equals the filler.
std::vector<uint8_t> Payload(size_t size) {
  std::vector<uint8_t> payload(size);
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>((i * 7 + 3) % 251);
  return payload;
}

// Boot sector + `setup_sectors` setup sectors (filled with kSetupFiller, the header copied
// in at 0x1f1), then the payload.
std::vector<uint8_t> BuildBzImage(const setup_header& header, uint64_t setup_sectors,
                                  const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> image((1 + setup_sectors) * kSector, kSetupFiller);
  std::memcpy(image.data() + 0x1f1, &header, sizeof(header));
  image.insert(image.end(), payload.begin(), payload.end());
  return image;
}

std::vector<uint8_t> GoodImage(size_t payload_size = 3000) {
  return BuildBzImage(GoodHeader(), 4, Payload(payload_size));
}

class BzImageLoaderTest : public ::testing::Test {
 protected:
  absl::StatusOr<LoadedBzImage> Load(const std::vector<uint8_t>& image) {
    return LoadBzImage(BytesImageReader(image), memory_);
  }
  absl::StatusOr<LoadedBzImage> Load(const setup_header& header) {
    return Load(BuildBzImage(header, header.setup_sects == 0 ? 4 : header.setup_sects,
                             Payload(3000)));
  }
  std::vector<uint8_t> ReadGuest(uint64_t address, size_t size) {
    std::vector<uint8_t> bytes(size);
    EXPECT_OK(memory_.ReadBytes(GuestAddress(address), absl::MakeSpan(bytes)));
    return bytes;
  }
  // Nothing of the payload reached guest memory at either possible load address.
  void ExpectNothingLoaded() {
    EXPECT_EQ(ReadGuest(0x100000, 4096), std::vector<uint8_t>(4096, 0));
    EXPECT_EQ(ReadGuest(kPrefAddress, 4096), std::vector<uint8_t>(4096, 0));
  }

  GuestMemory memory_ = GuestMemory::Create(64 * kMiB).value();
};

TEST_F(BzImageLoaderTest, LoadsTheProtectedModeCodeAtOneMiB) {
  ASSERT_OK(memory_.Fill(GuestAddress(0xff000), 0xee, 0x3000));
  const std::vector<uint8_t> payload = Payload(3000);
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(BuildBzImage(GoodHeader(), 4, payload)));
  EXPECT_EQ(loaded.load_address, GuestAddress(0x100000));
  EXPECT_EQ(loaded.entry_point, GuestAddress(0x100200));
  // The kernel decompresses into [pref_address, pref_address + init_size).
  EXPECT_EQ(loaded.end, GuestAddress(kDefaultEnd));
  // Byte-exact: the payload and nothing of the setup sectors, nothing past its end.
  EXPECT_EQ(ReadGuest(0x100000, payload.size()), payload);
  EXPECT_EQ(ReadGuest(0x100000 + payload.size(), 1), std::vector<uint8_t>{0xee});
  EXPECT_EQ(ReadGuest(0xfffff, 1), std::vector<uint8_t>{0xee});
}

TEST_F(BzImageLoaderTest, EndIsTheLoadedCodeWhenItReachesBeyondInitSize) {
  setup_header header = GoodHeader();
  header.pref_address = 0x100000;
  header.init_size = 0x1000;
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(BuildBzImage(header, 4, Payload(0x3001))));
  EXPECT_EQ(loaded.load_address, GuestAddress(0x100000));
  EXPECT_EQ(loaded.end, GuestAddress(0x103001));
}

TEST_F(BzImageLoaderTest, KeepsTheWholeHeader) {
  const setup_header expected = GoodHeader();
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(GoodImage()));
  EXPECT_EQ(+loaded.header.version, 0x020f);
  EXPECT_EQ(+loaded.header.cmdline_size, 2047u);
  EXPECT_EQ(+loaded.header.initrd_addr_max, 0x7fffffffu);
  EXPECT_EQ(+loaded.header.init_size, kInitSize);
  EXPECT_EQ(+loaded.header.kernel_alignment, 0x200000u);
  EXPECT_EQ(+loaded.header.kernel_info_offset, 0x12345u);  // the header's last field
  EXPECT_EQ(std::memcmp(&loaded.header, &expected, sizeof(expected)), 0);
}

TEST_F(BzImageLoaderTest, SetupSectsZeroMeansFour) {
  setup_header header = GoodHeader();
  header.setup_sects = 0;
  const std::vector<uint8_t> payload = Payload(3000);
  ASSERT_OK(Load(BuildBzImage(header, 4, payload)).status());
  EXPECT_EQ(ReadGuest(0x100000, payload.size()), payload);
}

TEST_F(BzImageLoaderTest, SetupSectsIsHonoured) {
  setup_header header = GoodHeader();
  header.setup_sects = 1;
  std::vector<uint8_t> payload = Payload(1000);
  ASSERT_OK(Load(BuildBzImage(header, 1, payload)).status());
  EXPECT_EQ(ReadGuest(0x100000, payload.size()), payload);

  header.setup_sects = 63;  // the most that fits below 0x8000
  payload = Payload(700);
  ASSERT_OK(Load(BuildBzImage(header, 63, payload)).status());
  EXPECT_EQ(ReadGuest(0x100000, payload.size()), payload);
}

TEST_F(BzImageLoaderTest, NonRelocatableKernelLoadsAtPrefAddress) {
  setup_header header = GoodHeader();
  header.relocatable_kernel = 0;
  const std::vector<uint8_t> payload = Payload(5000);
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(BuildBzImage(header, 4, payload)));
  EXPECT_EQ(loaded.load_address, GuestAddress(kPrefAddress));
  EXPECT_EQ(loaded.entry_point, GuestAddress(kPrefAddress + 0x200));
  EXPECT_EQ(loaded.end, GuestAddress(kDefaultEnd));
  EXPECT_EQ(ReadGuest(kPrefAddress, payload.size()), payload);
  EXPECT_EQ(ReadGuest(0x100000, 16), std::vector<uint8_t>(16, 0)) << "not also at 1 MiB";
}

TEST_F(BzImageLoaderTest, NonRelocatableKernelBelowOneMiBIsOutOfRange) {
  setup_header header = GoodHeader();
  header.relocatable_kernel = 0;
  header.pref_address = 0x10000;  // over the boot structures
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, RejectsAnImageTooShortForTheHeader) {
  // The header runs from 0x1f1 to 0x26c; one byte less cannot hold it.
  std::vector<uint8_t> image = GoodImage();
  image.resize(0x26b);
  EXPECT_THAT(Load(image), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
  // With the whole header the image gets further: it is then short of setup code.
  image = GoodImage();
  image.resize(0x26c);
  EXPECT_THAT(Load(image),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nothing follows")));
  EXPECT_THAT(Load(std::vector<uint8_t>{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
}

TEST_F(BzImageLoaderTest, RejectsBadMagic) {
  setup_header header = GoodHeader();
  header.boot_flag = 0x55aa;
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("boot_flag")));
  header = GoodHeader();
  header.header = 0x53726449;  // "IdrS"
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HdrS")));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, NeedsBootProtocolTwoTwelve) {
  setup_header header = GoodHeader();
  header.version = 0x020b;
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("boot protocol 2.11 is too old")));
  ExpectNothingLoaded();
  header.version = 0x020c;
  EXPECT_OK(Load(header).status());
}

TEST_F(BzImageLoaderTest, RejectsAKernelWithoutASixtyFourBitEntry) {
  setup_header header = GoodHeader();
  header.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;  // other flags do not count
  EXPECT_THAT(Load(header),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("XLF_KERNEL_64")));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, RejectsAZImage) {
  setup_header header = GoodHeader();
  header.loadflags = CAN_USE_HEAP | QUIET_FLAG;  // no LOADED_HIGH
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LOADED_HIGH")));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, RejectsAbsurdSetupSects) {
  setup_header header = GoodHeader();
  header.setup_sects = 64;
  EXPECT_THAT(Load(header),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("setup_sects is 64")));
  header.setup_sects = 255;
  EXPECT_THAT(Load(header),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("setup_sects is 255")));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, RejectsAnImageWithNothingAfterTheSetup) {
  std::vector<uint8_t> image = BuildBzImage(GoodHeader(), 4, {});
  EXPECT_THAT(Load(image),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nothing follows")));
  // One byte of protected-mode code is enough for the loader.
  image.push_back(0x90);
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(image));
  EXPECT_EQ(loaded.load_address, GuestAddress(0x100000));
  EXPECT_EQ(ReadGuest(0x100000, 1), std::vector<uint8_t>{0x90});
}

TEST_F(BzImageLoaderTest, InitSizeBeyondRamIsOutOfRange) {
  setup_header header = GoodHeader();
  header.init_size = 64 * kMiB;  // from 16 MiB: needs 80 MiB of the VM's 64
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("MiB")));
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("the VM has 64 MiB")));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, ExactFitInRam) {
  memory_ = GuestMemory::Create(kDefaultEnd).value();
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(GoodImage()));
  EXPECT_EQ(loaded.end.value(), memory_.size());

  // One byte more of init_size does not fit.
  setup_header header = GoodHeader();
  header.init_size = kInitSize + 1;
  memory_ = GuestMemory::Create(kDefaultEnd).value();
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  ExpectNothingLoaded();

  // Nor does the same image in one page less of RAM.
  memory_ = GuestMemory::Create(kDefaultEnd - 4096).value();
  EXPECT_THAT(Load(GoodImage()), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  ExpectNothingLoaded();
}

TEST_F(BzImageLoaderTest, ExactFitOfTheCodeItself) {
  // No room asked beyond the code: [1 MiB, 2 MiB) holds exactly 1 MiB of it.
  setup_header header = GoodHeader();
  header.pref_address = 0x100000;
  header.init_size = 0;
  memory_ = GuestMemory::Create(2 * kMiB).value();
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(BuildBzImage(header, 4, Payload(kMiB))));
  EXPECT_EQ(loaded.end, GuestAddress(2 * kMiB));
  memory_ = GuestMemory::Create(2 * kMiB).value();
  EXPECT_THAT(Load(BuildBzImage(header, 4, Payload(kMiB + 1))),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  EXPECT_EQ(ReadGuest(0x100000, 16), std::vector<uint8_t>(16, 0));
}

TEST_F(BzImageLoaderTest, PrefAddressThatWrapsIsOutOfRange) {
  // pref_address + init_size wraps past 2^64 to a small number: the room the kernel asks for
  // is not in RAM, however the sum wraps.
  setup_header header = GoodHeader();
  header.pref_address = 0xffffffffff000000;
  header.init_size = 0x2000000;  // the sum wraps to 16 MiB
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  header.relocatable_kernel = 0;
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  ExpectNothingLoaded();
}

// The header ends where its jump instruction lands (0x202 + the byte at 0x201); what follows
// is setup code, and must not be read as fields.
TEST_F(BzImageLoaderTest, FieldsBeyondTheStatedHeaderEndAreCleared) {
  // A header that ends right after "HdrS": the version in the image is setup code.
  setup_header header = GoodHeader();
  header.jump = 0xeb | (0x04 << 8);  // ends at 0x206
  EXPECT_THAT(Load(header), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("boot protocol 0.00 is too old")));
  // One that ends before xloadflags (0x236) while claiming 2.15.
  header.jump = 0xeb | ((0x236 - 0x202) << 8);
  EXPECT_THAT(Load(header),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("XLF_KERNEL_64")));
  // One byte more covers the low byte of xloadflags, which holds XLF_KERNEL_64.
  header.jump = 0xeb | ((0x237 - 0x202) << 8);
  EXPECT_OK(Load(header).status());

  // A 2.10-sized header (through init_size, ending at 0x264) loads; the two later fields
  // (handover_offset, kernel_info_offset) read as zero.
  header.jump = 0xeb | ((0x264 - 0x202) << 8);
  ASSERT_OK_AND_ASSIGN(LoadedBzImage loaded, Load(header));
  EXPECT_EQ(+loaded.header.init_size, kInitSize);
  EXPECT_EQ(+loaded.header.handover_offset, 0u);
  EXPECT_EQ(+loaded.header.kernel_info_offset, 0u);
  // Ending at 0x268 keeps handover_offset and still clears kernel_info_offset.
  header.jump = 0xeb | ((0x268 - 0x202) << 8);
  ASSERT_OK_AND_ASSIGN(loaded, Load(header));
  EXPECT_EQ(+loaded.header.handover_offset, 0x190u);
  EXPECT_EQ(+loaded.header.kernel_info_offset, 0u);
}

TEST(LooksLikeBzImageTest, NeedsBootFlagAndHdrS) {
  std::vector<uint8_t> image = GoodImage();
  EXPECT_TRUE(LooksLikeBzImage(BytesImageReader(image)));
  // "HdrS" ends at 0x206: an image of exactly that much is enough to tell, one byte less not.
  std::vector<uint8_t> prefix(image.begin(), image.begin() + 0x206);
  EXPECT_TRUE(LooksLikeBzImage(BytesImageReader(prefix)));
  prefix.pop_back();
  EXPECT_FALSE(LooksLikeBzImage(BytesImageReader(prefix)));

  setup_header header = GoodHeader();
  header.boot_flag = 0;
  image = BuildBzImage(header, 4, Payload(100));
  EXPECT_FALSE(LooksLikeBzImage(BytesImageReader(image)));
  header = GoodHeader();
  header.header = 0x53726468;  // "hdrS"
  image = BuildBzImage(header, 4, Payload(100));
  EXPECT_FALSE(LooksLikeBzImage(BytesImageReader(image)));

  // An ELF file, and nothing at all.
  image.assign(4096, 0);
  std::memcpy(image.data(), ELFMAG, SELFMAG);
  EXPECT_FALSE(LooksLikeBzImage(BytesImageReader(image)));
  EXPECT_FALSE(LooksLikeBzImage(BytesImageReader({})));
}

}  // namespace
}  // namespace vmmd
