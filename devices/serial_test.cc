#include "devices/serial.h"

#include <array>
#include <cstdint>
#include <vector>

#include "devices/fake_devices.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::vmmd::testing::CountingInterrupt;

// Offsets and bits from the PC16550D datasheet, "Register Summary".
constexpr uint16_t kData = 0;  // RBR / THR, or DLL with DLAB
constexpr uint16_t kIer = 1;   // or DLM with DLAB
constexpr uint16_t kIir = 2;   // FCR on write
constexpr uint16_t kLcr = 3;
constexpr uint16_t kMcr = 4;
constexpr uint16_t kLsr = 5;
constexpr uint16_t kMsr = 6;
constexpr uint16_t kScr = 7;

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRxData = 0x01;
constexpr uint8_t kIerThrEmpty = 0x02;
constexpr uint8_t kIerLineStatus = 0x04;
constexpr uint8_t kIerModemStatus = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTransmitterEmpty = 0x40;

class SerialTest : public ::testing::Test {
 protected:
  SerialTest() : serial_(&interrupt_, [this](uint8_t byte) { output_.push_back(byte); }) {}

  uint8_t In(uint16_t offset) {
    uint8_t value = 0;
    serial_.Read(offset, absl::MakeSpan(&value, 1));
    return value;
  }
  void Out(uint16_t offset, uint8_t value) {
    serial_.Write(offset, absl::MakeConstSpan(&value, 1));
  }

  CountingInterrupt interrupt_;
  std::vector<uint8_t> output_;
  Serial serial_;
};

TEST_F(SerialTest, ThrWriteIsTransmitted) {
  Out(kData, 'h');
  Out(kData, 'i');
  EXPECT_THAT(output_, ElementsAre('h', 'i'));
  EXPECT_EQ(In(kLsr) & (kLsrThrEmpty | kLsrTransmitterEmpty), 0x60);
  EXPECT_EQ(In(kLsr) & kLsrDataReady, 0);
  // No interrupt was enabled, so none was raised.
  EXPECT_EQ(interrupt_.count(), 0);
  EXPECT_EQ(In(kIir), 0x01);
}

TEST_F(SerialTest, DlabSwitchesToTheDivisorLatch) {
  Out(kIer, 0x05);
  Out(kLcr, 0x80 | 0x03);
  Out(kData, 0x01);  // DLL: 115200 baud
  Out(kIer, 0x02);   // DLM
  EXPECT_EQ(In(kData), 0x01);
  EXPECT_EQ(In(kIer), 0x02);
  EXPECT_THAT(output_, IsEmpty());  // the DLL write did not transmit
  Out(kLcr, 0x03);
  EXPECT_EQ(In(kLcr), 0x03);
  EXPECT_EQ(In(kIer), 0x05);  // IER was untouched by the DLM write
  Out(kData, 'x');
  EXPECT_THAT(output_, ElementsAre('x'));
  // And the divisor survived.
  Out(kLcr, kLcrDlab);
  EXPECT_EQ(In(kData), 0x01);
  EXPECT_EQ(In(kIer), 0x02);
}

TEST_F(SerialTest, IerKeepsOnlyTheLowNibble) {
  Out(kIer, 0xff);
  EXPECT_EQ(In(kIer), 0x0f);
}

TEST_F(SerialTest, IirReportsNoInterruptWhenIdle) {
  EXPECT_EQ(In(kIir), 0x01);
  Out(kIir, 0x01);  // FCR: enable FIFOs
  EXPECT_EQ(In(kIir), 0xc1);
  Out(kIir, 0x00);
  EXPECT_EQ(In(kIir), 0x01);
}

TEST_F(SerialTest, EnablingThrEmptyInterruptRaisesItAndIirReadClearsIt) {
  Out(kIir, 0x01);  // FIFOs on: IIR bits 7:6 set
  Out(kIer, kIerThrEmpty);
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(In(kIir), 0xc2);
  // Reading IIR cleared it.
  EXPECT_EQ(In(kIir), 0xc1);
  EXPECT_EQ(interrupt_.count(), 1);
  // Writing IER again with the same bit is not a new enable.
  Out(kIer, kIerThrEmpty);
  EXPECT_EQ(In(kIir), 0xc1);
  EXPECT_EQ(interrupt_.count(), 1);
}

TEST_F(SerialTest, ThrWriteWithInterruptEnabledRaisesItAgain) {
  Out(kIer, kIerThrEmpty);
  ASSERT_EQ(In(kIir), 0x02);
  ASSERT_EQ(interrupt_.count(), 1);
  Out(kData, 'a');
  EXPECT_EQ(interrupt_.count(), 2);
  EXPECT_EQ(In(kIir), 0x02);
  // Even without reading IIR in between, each THR write is a new edge (cleared, then set).
  Out(kData, 'b');
  Out(kData, 'c');
  EXPECT_EQ(interrupt_.count(), 4);
}

TEST_F(SerialTest, LinuxThreProbeSeesTheInterruptReasserted) {
  // Linux's serial8250_do_startup: IER=THRI, read IIR, IER=0, IER=THRI, read IIR; both
  // reads must show the interrupt or the driver marks the port UART_BUG_THRE.
  Out(kIer, kIerThrEmpty);
  EXPECT_EQ(In(kIir) & 0x01, 0);
  Out(kIer, 0);
  Out(kIer, kIerThrEmpty);
  EXPECT_EQ(In(kIir) & 0x0f, 0x02);
  EXPECT_EQ(interrupt_.count(), 2);
}

TEST_F(SerialTest, DisablingThrEmptyInterruptMasksIt) {
  Out(kIer, kIerThrEmpty);
  Out(kIer, 0);
  EXPECT_EQ(In(kIir), 0x01);
}

TEST_F(SerialTest, LoopbackReturnsWrittenBytesAsReceivedData) {
  Out(kMcr, kMcrLoop | 0x0a);  // loop, OUT2, RTS: what Linux's autoconfig writes
  EXPECT_EQ(In(kMsr) & 0xf0, 0x90);  // DCD (from OUT2) and CTS (from RTS)
  Out(kData, 0x5a);
  Out(kData, 0xa5);
  EXPECT_THAT(output_, IsEmpty());
  EXPECT_EQ(In(kLsr) & kLsrDataReady, kLsrDataReady);
  EXPECT_EQ(In(kData), 0x5a);
  EXPECT_EQ(In(kData), 0xa5);
  EXPECT_EQ(In(kLsr) & kLsrDataReady, 0);
  // Leaving loopback sends bytes out again.
  Out(kMcr, 0x0b);
  Out(kData, 'o');
  EXPECT_THAT(output_, ElementsAre('o'));
  EXPECT_EQ(In(kLsr) & kLsrDataReady, 0);
}

TEST_F(SerialTest, LoopbackMirrorsModemControlIntoModemStatus) {
  Out(kMcr, kMcrLoop | 0x01);  // DTR -> DSR
  EXPECT_EQ(In(kMsr) & 0xf0, 0x20);
  Out(kMcr, kMcrLoop | 0x02);  // RTS -> CTS
  EXPECT_EQ(In(kMsr) & 0xf0, 0x10);
  Out(kMcr, kMcrLoop | 0x04);  // OUT1 -> RI
  EXPECT_EQ(In(kMsr) & 0xf0, 0x40);
  Out(kMcr, kMcrLoop | 0x08);  // OUT2 -> DCD
  EXPECT_EQ(In(kMsr) & 0xf0, 0x80);
  Out(kMcr, kMcrLoop | 0x0f);
  EXPECT_EQ(In(kMsr) & 0xf0, 0xf0);
  Out(kMcr, kMcrLoop);
  EXPECT_EQ(In(kMsr) & 0xf0, 0x00);
  // Out of loopback the line looks connected again: DCD, DSR, CTS.
  Out(kMcr, 0x08);
  EXPECT_EQ(In(kMsr) & 0xf0, 0xb0);
}

TEST_F(SerialTest, ModemStatusDeltasAreReportedOnceAndCanInterrupt) {
  Out(kIer, kIerModemStatus);
  EXPECT_EQ(In(kIir), 0x01);
  // Entering loopback with MCR=0x10 drops DCD, DSR and CTS: three deltas.
  Out(kMcr, kMcrLoop);
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(In(kIir), 0x00);  // modem status interrupt
  EXPECT_EQ(In(kMsr), 0x0b);  // DDCD | DDSR | DCTS
  EXPECT_EQ(In(kMsr), 0x00);  // cleared by the read
  EXPECT_EQ(In(kIir), 0x01);
  // RI's trailing edge (1 -> 0) is what sets TERI.
  Out(kMcr, kMcrLoop | 0x04);
  EXPECT_EQ(In(kMsr), 0x40);
  Out(kMcr, kMcrLoop);
  EXPECT_EQ(In(kMsr), 0x04);
}

TEST_F(SerialTest, EnqueuedInputIsReceived) {
  const std::array<uint8_t, 2> input = {'o', 'k'};
  EXPECT_EQ(serial_.EnqueueInput(input), 2u);
  EXPECT_EQ(In(kLsr) & kLsrDataReady, kLsrDataReady);
  EXPECT_EQ(In(kData), 'o');
  EXPECT_EQ(In(kLsr) & kLsrDataReady, kLsrDataReady);
  EXPECT_EQ(In(kData), 'k');
  EXPECT_EQ(In(kLsr) & kLsrDataReady, 0);
  EXPECT_EQ(interrupt_.count(), 0);  // ERBFI was off
}

TEST_F(SerialTest, ReceivedDataRaisesInterruptWhenEnabled) {
  Out(kIir, 0x01);
  Out(kIer, kIerRxData);
  EXPECT_EQ(interrupt_.count(), 0);
  EXPECT_EQ(In(kIir), 0xc1);
  const std::array<uint8_t, 2> input = {'a', 'b'};
  serial_.EnqueueInput(input);
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(In(kIir), 0xc4);
  // More input while still pending is not a new edge.
  serial_.EnqueueInput(input);
  EXPECT_EQ(interrupt_.count(), 1);
  for (int i = 0; i < 4; ++i) In(kData);
  EXPECT_EQ(In(kIir), 0xc1);
  // Drained: the next byte is a new edge.
  serial_.EnqueueInput(absl::MakeConstSpan(input).first(1));
  EXPECT_EQ(interrupt_.count(), 2);
}

TEST_F(SerialTest, ReceivedDataOutranksThrEmpty) {
  Out(kIer, kIerRxData | kIerThrEmpty);
  const uint8_t byte = 'q';
  serial_.EnqueueInput(absl::MakeConstSpan(&byte, 1));
  EXPECT_EQ(In(kIir), 0x04);
  EXPECT_EQ(In(kIir), 0x04);  // reading IIR does not clear received data
  EXPECT_EQ(In(kData), 'q');
  EXPECT_EQ(In(kIir), 0x02);  // THR empty was still pending underneath
  EXPECT_EQ(In(kIir), 0x01);
}

TEST_F(SerialTest, InputIsBounded) {
  std::vector<uint8_t> flood(Serial::kMaxInputBytes + 100, 'x');
  EXPECT_EQ(serial_.EnqueueInput(flood), Serial::kMaxInputBytes);
  EXPECT_EQ(serial_.EnqueueInput(flood), 0u);
  In(kData);
  EXPECT_EQ(serial_.EnqueueInput(flood), 1u);
}

TEST_F(SerialTest, FifoResetDropsInput) {
  const std::array<uint8_t, 2> input = {'a', 'b'};
  serial_.EnqueueInput(input);
  Out(kIir, 0x01 | 0x02);  // FCR: enable + clear receive FIFO
  EXPECT_EQ(In(kLsr) & kLsrDataReady, 0);
}

TEST_F(SerialTest, LoopbackOverrunIsReportedAndClearedByLsrRead) {
  Out(kIer, kIerLineStatus);
  Out(kMcr, kMcrLoop);
  for (size_t i = 0; i < Serial::kMaxInputBytes; ++i) Out(kData, 'x');
  EXPECT_EQ(interrupt_.count(), 0);
  Out(kData, 'y');
  EXPECT_EQ(interrupt_.count(), 1);
  EXPECT_EQ(In(kIir), 0x06);
  EXPECT_EQ(In(kLsr) & kLsrOverrun, kLsrOverrun);
  EXPECT_EQ(In(kLsr) & kLsrOverrun, 0);
  EXPECT_EQ(In(kIir), 0x01);
}

TEST_F(SerialTest, ScratchRegisterHoldsAByte) {
  EXPECT_EQ(In(kScr), 0);
  Out(kScr, 0xa5);
  EXPECT_EQ(In(kScr), 0xa5);
  EXPECT_THAT(output_, IsEmpty());
}

TEST_F(SerialTest, WideAccessesActOnTheFirstByte) {
  const std::array<uint8_t, 4> word = {'w', 'x', 'y', 'z'};
  serial_.Write(kData, word);
  EXPECT_THAT(output_, ElementsAre('w'));
  serial_.Write(kScr, absl::MakeConstSpan(word).first(2));
  EXPECT_EQ(In(kScr), 'w');

  std::array<uint8_t, 4> read = {1, 2, 3, 4};
  serial_.Read(kLsr, absl::MakeSpan(read));
  EXPECT_THAT(read, ElementsAre(0x60, 0, 0, 0));
  std::array<uint8_t, 2> read2 = {1, 2};
  serial_.Read(kScr, absl::MakeSpan(read2));
  EXPECT_THAT(read2, ElementsAre('w', 0));
}

TEST_F(SerialTest, EmptyAccessesAreIgnored) {
  serial_.Write(kData, absl::Span<const uint8_t>());
  serial_.Read(kData, absl::Span<uint8_t>());
  EXPECT_THAT(output_, IsEmpty());
}

TEST_F(SerialTest, TransmitCanBeDeferredUnlessThrEmptyInterruptOrLoopback) {
  EXPECT_TRUE(serial_.TransmitCanBeDeferred());  // reset state: IER 0, MCR OUT2
  Out(kIer, kIerRxData | kIerLineStatus | kIerModemStatus);
  EXPECT_TRUE(serial_.TransmitCanBeDeferred());
  Out(kIer, kIerThrEmpty);
  EXPECT_FALSE(serial_.TransmitCanBeDeferred());
  Out(kIer, 0);
  Out(kMcr, kMcrLoop);
  EXPECT_FALSE(serial_.TransmitCanBeDeferred());
  Out(kMcr, 0);
  EXPECT_TRUE(serial_.TransmitCanBeDeferred());
}

// The property the VMM relies on: whenever TransmitCanBeDeferred() says so, a THR write
// raises no interrupt, whatever else is enabled or pending.
TEST_F(SerialTest, ADeferrableThrWriteNeverRaisesAnInterrupt) {
  for (int ier = 0; ier < 16; ++ier) {
    for (int mcr : {0x00, 0x08, 0x0b, 0x10, 0x1f}) {  // 0x10: loopback
      for (bool dlab : {false, true}) {
        Serial serial(&interrupt_, [](uint8_t) {});
        auto out = [&](uint16_t offset, uint8_t value) {
          serial.Write(offset, absl::MakeConstSpan(&value, 1));
        };
        out(kMcr, static_cast<uint8_t>(mcr));
        out(kIer, static_cast<uint8_t>(ier));
        uint8_t iir = 0;
        serial.Read(kIir, absl::MakeSpan(&iir, 1));  // acknowledge what enabling raised
        if (dlab) out(kLcr, kLcrDlab | 0x03);
        const bool deferrable = serial.TransmitCanBeDeferred();
        const int before = interrupt_.count();
        out(kData, 'x');
        if (deferrable) {
          EXPECT_EQ(interrupt_.count(), before) << "ier " << ier << " mcr " << mcr;
        } else if (!dlab) {
          // The converse, where the write reaches THR and no other source holds the line
          // high already: the write interrupts.
          const bool interrupting =
              ier == kIerThrEmpty || ((mcr & kMcrLoop) && ier == kIerRxData);
          if (interrupting) {
            EXPECT_GT(interrupt_.count(), before) << "ier " << ier << " mcr " << mcr;
          }
        }
      }
    }
  }
}

TEST(SerialWithoutInterruptTest, NullInterruptLineIsAllowed) {
  std::vector<uint8_t> output;
  Serial serial(nullptr, [&](uint8_t byte) { output.push_back(byte); });
  const uint8_t ier = kIerThrEmpty | kIerRxData;
  serial.Write(kIer, absl::MakeConstSpan(&ier, 1));
  const uint8_t byte = '!';
  serial.Write(kData, absl::MakeConstSpan(&byte, 1));
  EXPECT_EQ(serial.EnqueueInput(absl::MakeConstSpan(&byte, 1)), 1u);
  EXPECT_THAT(output, ElementsAre('!'));
}

// The state read out of one UART and put into another makes the second answer as the first.
TEST_F(SerialTest, StateRoundTripsIntoAnotherUart) {
  Out(3, 0x80);  // DLAB
  Out(0, 0x01);  // divisor 1: 115200 baud
  Out(3, 0x1b);  // 8E1, DLAB off
  Out(7, 0x5a);  // SCR
  Out(1, 0x01);  // IER: received data available
  const uint8_t received[] = {'h', 'i'};
  ASSERT_EQ(serial_.EnqueueInput(received), 2u);
  SerialState state = serial_.state();
  EXPECT_EQ(state.divisor, 1);
  EXPECT_EQ(state.input.size(), 2u);

  Serial restored(nullptr, [](uint8_t) {});
  ASSERT_TRUE(restored.Restore(state).ok());
  EXPECT_TRUE(restored.state() == state);
  uint8_t value = 0;
  restored.Read(3, absl::MakeSpan(&value, 1));
  EXPECT_EQ(value, 0x1b);
  restored.Read(7, absl::MakeSpan(&value, 1));
  EXPECT_EQ(value, 0x5a);
  restored.Read(0, absl::MakeSpan(&value, 1));
  EXPECT_EQ(value, 'h');

  state.input.assign(Serial::kMaxInputBytes + 1, 'x');
  EXPECT_EQ(restored.Restore(state).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmmd
