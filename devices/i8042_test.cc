#include "devices/i8042.h"

#include <array>
#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;

// Offsets from 0x60: the data port and the status/command port.
constexpr uint16_t kData = 0;
constexpr uint16_t kCommand = 4;
constexpr uint8_t kOutputFull = 0x01;
constexpr uint8_t kAuxOutputFull = 0x20;

class I8042Test : public ::testing::Test {
 protected:
  I8042Test() : i8042_([this] { ++resets_; }) {}

  uint8_t In(uint16_t offset) {
    uint8_t value = 0;
    i8042_.Read(offset, absl::MakeSpan(&value, 1));
    return value;
  }
  void Out(uint16_t offset, uint8_t value) { i8042_.Write(offset, absl::MakeConstSpan(&value, 1)); }
  uint8_t Status() { return In(kCommand); }
  // Issues a command and returns the one byte it answers with.
  uint8_t Ask(uint8_t command) {
    Out(kCommand, command);
    EXPECT_EQ(Status() & kOutputFull, kOutputFull) << "command " << int{command};
    return In(kData);
  }

  int resets_ = 0;
  I8042 i8042_;
};

TEST_F(I8042Test, IdleStatusHasNoOutput) {
  // System flag, last write was a command, not inhibited; nothing to read.
  EXPECT_EQ(Status(), 0x1c);
  EXPECT_EQ(Status() & kOutputFull, 0);
}

TEST_F(I8042Test, ReadCommandByte) {
  EXPECT_EQ(Ask(0x20), 0x45);
  EXPECT_EQ(Status() & kOutputFull, 0);
}

TEST_F(I8042Test, WriteCommandByte) {
  Out(kCommand, 0x60);
  Out(kData, 0x65);
  EXPECT_EQ(Status() & kOutputFull, 0);  // written, not answered
  EXPECT_EQ(Status() & 0x08, 0);         // the last write went to the data port
  EXPECT_EQ(Ask(0x20), 0x65);
  // The system flag in the status register follows command byte bit 2.
  Out(kCommand, 0x60);
  Out(kData, 0x61);
  EXPECT_EQ(Status() & 0x04, 0);
}

TEST_F(I8042Test, SelfTestPasses) { EXPECT_EQ(Ask(0xaa), 0x55); }

TEST_F(I8042Test, InterfaceTestsPass) {
  EXPECT_EQ(Ask(0xab), 0x00);
  EXPECT_EQ(Ask(0xa9), 0x00);
}

TEST_F(I8042Test, PortEnableCommandsToggleCommandByteBits) {
  Out(kCommand, 0xad);  // disable keyboard: bit 4
  EXPECT_EQ(Ask(0x20), 0x55);
  Out(kCommand, 0xa7);  // disable aux: bit 5
  EXPECT_EQ(Ask(0x20), 0x75);
  Out(kCommand, 0xae);
  EXPECT_EQ(Ask(0x20), 0x65);
  Out(kCommand, 0xa8);
  EXPECT_EQ(Ask(0x20), 0x45);
  EXPECT_EQ(resets_, 0);
}

TEST_F(I8042Test, ResetCommandCallsOnResetOncePerCommand) {
  Out(kCommand, I8042::kCommandReset);
  EXPECT_EQ(resets_, 1);
  Out(kCommand, I8042::kCommandReset);
  EXPECT_EQ(resets_, 2);
  // 0xff pulses no line, 0xfe's neighbours 0xfd/0xfb keep bit 0 (reset) high.
  Out(kCommand, 0xff);
  Out(kCommand, 0xfd);
  EXPECT_EQ(resets_, 2);
  // 0xfe as a data byte is not a command.
  Out(kData, 0xfe);
  EXPECT_EQ(resets_, 2);
}

TEST_F(I8042Test, WriteOutputPortWithResetBitLowResets) {
  Out(kCommand, 0xd1);
  Out(kData, 0xdf);  // A20 on, reset high: what Linux's boot code writes
  EXPECT_EQ(resets_, 0);
  EXPECT_EQ(Ask(0xd0), 0xdf);
  Out(kCommand, 0xd1);
  Out(kData, 0xde);
  EXPECT_EQ(resets_, 1);
}

TEST_F(I8042Test, WriteToAuxIsDroppedWithoutAnswer) {
  Out(kCommand, 0xd4);
  Out(kData, 0xff);  // a mouse reset, for a mouse that is not there
  EXPECT_EQ(Status() & kOutputFull, 0);
  EXPECT_EQ(resets_, 0);
  // The data byte went to the aux device, not into the command byte.
  EXPECT_EQ(Ask(0x20), 0x45);
  // Nor is a plain data write (for the missing keyboard) answered.
  Out(kData, 0xf4);
  EXPECT_EQ(Status() & kOutputFull, 0);
}

TEST_F(I8042Test, AuxLoopbackIsFlaggedAsAuxData) {
  Out(kCommand, 0xd3);
  Out(kData, 0x5a);
  EXPECT_EQ(Status() & (kOutputFull | kAuxOutputFull), kOutputFull | kAuxOutputFull);
  EXPECT_EQ(In(kData), 0x5a);
  EXPECT_EQ(Status() & (kOutputFull | kAuxOutputFull), 0);
  Out(kCommand, 0xd2);
  Out(kData, 0x1c);
  EXPECT_EQ(Status() & (kOutputFull | kAuxOutputFull), kOutputFull);
  EXPECT_EQ(In(kData), 0x1c);
}

TEST_F(I8042Test, NewCommandAbandonsOneAwaitingData) {
  Out(kCommand, 0x60);
  Out(kCommand, 0xaa);
  EXPECT_EQ(In(kData), 0x55);
  Out(kData, 0x00);  // no command waits for it: dropped
  EXPECT_EQ(Ask(0x20), 0x45);
}

TEST_F(I8042Test, SpeakerPortOffsetsReadAllOnes) {
  for (uint16_t offset = 1; offset <= 3; ++offset) {
    EXPECT_EQ(In(offset), 0xff) << offset;
    Out(offset, 0xfe);
  }
  EXPECT_EQ(resets_, 0);
  EXPECT_EQ(Status(), 0x1c);
}

TEST_F(I8042Test, OutputBufferIsBounded) {
  for (int i = 0; i < 100; ++i) Out(kCommand, 0xaa);
  int bytes = 0;
  while ((Status() & kOutputFull) && bytes < 1000) {
    EXPECT_EQ(In(kData), 0x55);
    ++bytes;
  }
  EXPECT_EQ(bytes, 16);
  EXPECT_EQ(In(kData), 0x00);  // empty reads as 0
}

TEST_F(I8042Test, WideAndEmptyAccesses) {
  Out(kCommand, 0xaa);
  std::array<uint8_t, 4> read = {};
  i8042_.Read(kData, absl::MakeSpan(read));
  EXPECT_THAT(read, ElementsAre(0x55, 0xff, 0xff, 0xff));
  const std::array<uint8_t, 2> command = {0xfe, 0x00};
  i8042_.Write(kCommand, command);
  EXPECT_EQ(resets_, 1);
  i8042_.Write(kCommand, absl::Span<const uint8_t>());
  i8042_.Read(kCommand, absl::Span<uint8_t>());
  EXPECT_EQ(resets_, 1);
}

TEST(I8042WithoutCallbackTest, ResetWithoutCallbackIsHarmless) {
  I8042 i8042(nullptr);
  const uint8_t reset = I8042::kCommandReset;
  i8042.Write(4, absl::MakeConstSpan(&reset, 1));
  uint8_t status = 0;
  i8042.Read(4, absl::MakeSpan(&status, 1));
  EXPECT_EQ(status & 0x01, 0);
}

// The state read out of one controller and put into another makes the second answer as the
// first: the command byte, and a byte still waiting for the guest.
TEST_F(I8042Test, StateRoundTripsIntoAnotherController) {
  Out(kCommand, 0x60);
  Out(kData, 0x31);  // command byte
  Out(kCommand, 0xaa);  // self test: 0x55 waits at 0x60
  I8042State state = i8042_.state();
  EXPECT_EQ(state.command_byte, 0x31);
  ASSERT_EQ(state.output.size(), 1u);

  I8042 restored([] {});
  ASSERT_TRUE(restored.Restore(state).ok());
  EXPECT_TRUE(restored.state() == state);
  uint8_t value = 0;
  restored.Read(0, absl::MakeSpan(&value, 1));
  EXPECT_EQ(value, 0x55);

  state.output.resize(I8042::kMaxOutputBytes + 1);
  EXPECT_EQ(restored.Restore(state).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmmd
