#include "snapshot/state_file.h"

#include <string>

#include "base/crc64.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::snapshot {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

v1::MachineState SomeState() {
  v1::MachineState state;
  state.set_vmmd_version("test");
  state.mutable_vm()->set_clock_ns(123456789);
  for (int i = 0; i < 2; ++i) {
    v1::KvmVcpuState* vcpu = state.add_vcpus();
    vcpu->set_tsc_khz(2'000'000 + i);
    vcpu->set_regs(std::string(144, static_cast<char>('a' + i)));
    v1::Msr* msr = vcpu->add_msrs();
    msr->set_index(0x174);
    msr->set_value(0x10 + i);
  }
  return state;
}

// A well-formed header (this version, the right length and checksum) around `payload`:
// EncodeStateFile always writes a good payload, so the payload's own faults are framed here.
std::string Reframed(const std::string& payload) {
  std::string header = EncodeStateFile(SomeState()).substr(0, kHeaderSize);
  const uint64_t crc = Crc64(payload);
  for (int i = 0; i < 8; ++i) {
    header[16 + i] = static_cast<char>((payload.size() >> (8 * i)) & 0xff);
    header[24 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
  return header + payload;
}

TEST(StateFileTest, RoundTrips) {
  const std::string file = EncodeStateFile(SomeState());
  ASSERT_GT(file.size(), kHeaderSize);
  EXPECT_EQ(file.substr(0, 8), "VMMDSNAP");
  ASSERT_OK_AND_ASSIGN(v1::MachineState decoded, DecodeStateFile(file));
  EXPECT_EQ(decoded.format_version(), kFormatVersion);
  v1::MachineState expected = SomeState();
  expected.set_format_version(kFormatVersion);
  EXPECT_EQ(decoded.SerializeAsString(), expected.SerializeAsString());
}

TEST(StateFileTest, EveryTruncationIsRefused) {
  const std::string file = EncodeStateFile(SomeState());
  for (size_t length = 0; length < file.size(); ++length) {
    EXPECT_THAT(DecodeStateFile(file.substr(0, length)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")))
        << length << " of " << file.size() << " bytes";
  }
}

TEST(StateFileTest, TrailingBytesAreRefused) {
  EXPECT_THAT(DecodeStateFile(EncodeStateFile(SomeState()) + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing bytes")));
}

TEST(StateFileTest, EveryCorruptedPayloadByteIsRefused) {
  const std::string file = EncodeStateFile(SomeState());
  for (size_t i = kHeaderSize; i < file.size(); ++i) {
    std::string corrupted = file;
    corrupted[i] = static_cast<char>(corrupted[i] ^ 0x20);
    EXPECT_THAT(DecodeStateFile(corrupted),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checksum")))
        << "byte " << i;
  }
}

TEST(StateFileTest, EachHeaderFieldIsChecked) {
  const std::string file = EncodeStateFile(SomeState());
  struct Case {
    size_t offset;
    absl::StatusCode code;
    const char* says;
  };
  for (const Case& c : {Case{0, absl::StatusCode::kInvalidArgument, "not a vmmd snapshot"},
                        Case{7, absl::StatusCode::kInvalidArgument, "not a vmmd snapshot"},
                        Case{8, absl::StatusCode::kFailedPrecondition, "format version"},
                        Case{11, absl::StatusCode::kFailedPrecondition, "format version"},
                        Case{12, absl::StatusCode::kInvalidArgument, "must be zero"},
                        Case{16, absl::StatusCode::kInvalidArgument, "payload bytes"},
                        Case{23, absl::StatusCode::kInvalidArgument, "allowed"},
                        Case{24, absl::StatusCode::kInvalidArgument, "checksum"},
                        Case{31, absl::StatusCode::kInvalidArgument, "checksum"}}) {
    std::string corrupted = file;
    corrupted[c.offset] = static_cast<char>(corrupted[c.offset] ^ 0x01);
    EXPECT_THAT(DecodeStateFile(corrupted), StatusIs(c.code, HasSubstr(c.says)))
        << "header byte " << c.offset;
  }
}

TEST(StateFileTest, AnotherVersionInThePayloadIsRefused) {
  // A writer that put another version inside a well-formed file (checksum and all).
  v1::MachineState state = SomeState();
  state.set_format_version(kFormatVersion + 1);
  EXPECT_THAT(DecodeStateFile(Reframed(state.SerializeAsString())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("its payload")));
}

TEST(StateFileTest, APayloadThatDoesNotParseIsRefused) {
  EXPECT_THAT(DecodeStateFile(Reframed("\xff\xff\xff")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not parse")));
}

}  // namespace
}  // namespace vmmd::snapshot
