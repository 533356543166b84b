// ResourceAllocator: fixed order, rounding, no overlap, exhaustion, and its state's round trip.
#include "devices/resource_allocator.h"

#include <cstdint>
#include <vector>

#include "base/status_matchers.h"
#include "boot/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kPage = 0x1000;

TEST(ResourceAllocatorTest, FirstDevicesAlwaysGetTheSameWindowsAndLines) {
  ResourceAllocator allocator;
  ASSERT_OK_AND_ASSIGN(MmioWindow first, allocator.AllocateMmio(0x200));
  ASSERT_OK_AND_ASSIGN(MmioWindow second, allocator.AllocateMmio(0x200));
  EXPECT_EQ(first, (MmioWindow{0xc0000000, kPage}));
  EXPECT_EQ(second, (MmioWindow{0xc0001000, kPage}));
  ASSERT_OK_AND_ASSIGN(uint32_t irq, allocator.AllocateIrq());
  EXPECT_EQ(irq, 5u);

  // A second allocator, as for the next VM, starts over with the same answers.
  ResourceAllocator again;
  ASSERT_OK_AND_ASSIGN(MmioWindow first_again, again.AllocateMmio(0x200));
  ASSERT_OK_AND_ASSIGN(uint32_t irq_again, again.AllocateIrq());
  EXPECT_EQ(first_again, first);
  EXPECT_EQ(irq_again, 5u);
}

TEST(ResourceAllocatorTest, IrqLinesGoInOrderSkippingRtcAndMouseUntilNoneAreLeft) {
  ResourceAllocator allocator;
  std::vector<uint32_t> lines;
  for (int i = 0; i < 17; ++i) {
    ASSERT_OK_AND_ASSIGN(uint32_t irq, allocator.AllocateIrq());
    lines.push_back(irq);
  }
  EXPECT_THAT(lines, ElementsAre(5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23));
  EXPECT_THAT(allocator.AllocateIrq(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("no free IRQ line: 17 in use, lines 5-23")));
  EXPECT_EQ(allocator.state().irqs, lines);  // a refusal changes nothing
}

TEST(ResourceAllocatorTest, SizesRoundUpToWholePages) {
  ResourceAllocator allocator;
  ASSERT_OK_AND_ASSIGN(MmioWindow one_byte, allocator.AllocateMmio(1));
  ASSERT_OK_AND_ASSIGN(MmioWindow page, allocator.AllocateMmio(kPage));
  ASSERT_OK_AND_ASSIGN(MmioWindow page_and_a_byte, allocator.AllocateMmio(kPage + 1));
  ASSERT_OK_AND_ASSIGN(MmioWindow after, allocator.AllocateMmio(0x200));
  EXPECT_EQ(one_byte.size, kPage);
  EXPECT_EQ(page.size, kPage);
  EXPECT_EQ(page_and_a_byte.size, 2 * kPage);
  EXPECT_EQ(page.base, one_byte.end());
  EXPECT_EQ(page_and_a_byte.base, page.end());
  EXPECT_EQ(after.base, page_and_a_byte.end());
  for (const MmioWindow& window : allocator.state().mmio_windows) {
    EXPECT_EQ(window.base % kPage, 0u);
  }
}

TEST(ResourceAllocatorTest, ZeroSizeIsRefused) {
  ResourceAllocator allocator;
  EXPECT_THAT(allocator.AllocateMmio(0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 bytes")));
  EXPECT_TRUE(allocator.state().mmio_windows.empty());
}

TEST(ResourceAllocatorTest, WindowsNeverOverlapAndStayInTheRange) {
  ResourceAllocator allocator;
  const uint64_t sizes[] = {0x200, 0x3000, 1, 0x10000, 0x1001, 0x200, 0x100000, 0x200};
  std::vector<MmioWindow> windows;
  for (uint64_t size : sizes) {
    ASSERT_OK_AND_ASSIGN(MmioWindow window, allocator.AllocateMmio(size));
    EXPECT_GE(window.size, size);
    windows.push_back(window);
  }
  for (size_t i = 0; i < windows.size(); ++i) {
    EXPECT_GE(windows[i].base, layout::kDeviceMmioStart);
    EXPECT_LE(windows[i].end(), layout::kDeviceMmioEnd);
    for (size_t j = i + 1; j < windows.size(); ++j) {
      EXPECT_TRUE(windows[i].end() <= windows[j].base || windows[j].end() <= windows[i].base)
          << "windows " << i << " and " << j << " overlap";
    }
  }
}

TEST(ResourceAllocatorTest, FullRangeIsRefusedNamingTheLimit) {
  ResourceAllocator allocator;
  ASSERT_OK_AND_ASSIGN(MmioWindow most, allocator.AllocateMmio(layout::kDeviceMmioSize - kPage));
  EXPECT_EQ(most.base, layout::kDeviceMmioStart);
  // One page is left: two do not fit, one does, then nothing does.
  EXPECT_THAT(allocator.AllocateMmio(2 * kPage),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("no free MMIO window of 0x2000 bytes: 0xffff000 of the "
                                 "0x10000000 bytes of the devices' MMIO range "
                                 "[0xc0000000, 0xd0000000) are in use")));
  ASSERT_OK_AND_ASSIGN(MmioWindow last, allocator.AllocateMmio(1));
  EXPECT_EQ(last.end(), layout::kDeviceMmioEnd);
  EXPECT_THAT(allocator.AllocateMmio(1), StatusIs(absl::StatusCode::kResourceExhausted,
                                                  HasSubstr("0x10000000 of the 0x10000000")));
  EXPECT_EQ(allocator.state().mmio_windows.size(), 2u);
}

TEST(ResourceAllocatorTest, WindowLargerThanTheRangeIsRefusedWithoutWrapping) {
  ResourceAllocator allocator;
  EXPECT_THAT(allocator.AllocateMmio(layout::kDeviceMmioSize + 1),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than")));
  // Rounding this up to a page would wrap to 0.
  EXPECT_THAT(allocator.AllocateMmio(UINT64_MAX),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("larger than")));
  ASSERT_OK_AND_ASSIGN(MmioWindow whole, allocator.AllocateMmio(layout::kDeviceMmioSize));
  EXPECT_EQ(whole, (MmioWindow{layout::kDeviceMmioStart, layout::kDeviceMmioSize}));
}

TEST(ResourceAllocatorTest, StateRoundTripsAndTheRestoredAllocatorGoesOnTheSame) {
  ResourceAllocator original;
  ASSERT_OK(original.AllocateMmio(0x200).status());
  ASSERT_OK(original.AllocateMmio(0x5000).status());
  ASSERT_OK(original.AllocateIrq().status());
  ASSERT_OK(original.AllocateIrq().status());
  ASSERT_OK(original.AllocateIrq().status());
  const ResourceAllocatorState saved = original.state();
  EXPECT_THAT(saved.irqs, ElementsAre(5, 6, 7));
  EXPECT_THAT(saved.mmio_windows, ElementsAre(MmioWindow{0xc0000000, kPage},
                                              MmioWindow{0xc0001000, 5 * kPage}));

  ASSERT_OK_AND_ASSIGN(ResourceAllocator restored, ResourceAllocator::FromState(saved));
  EXPECT_EQ(restored.state(), saved);
  // Both hand out the same next resources.
  ASSERT_OK_AND_ASSIGN(MmioWindow from_original, original.AllocateMmio(0x200));
  ASSERT_OK_AND_ASSIGN(MmioWindow from_restored, restored.AllocateMmio(0x200));
  EXPECT_EQ(from_restored, from_original);
  EXPECT_EQ(from_restored.base, 0xc0006000u);
  ASSERT_OK_AND_ASSIGN(uint32_t irq_original, original.AllocateIrq());
  ASSERT_OK_AND_ASSIGN(uint32_t irq_restored, restored.AllocateIrq());
  EXPECT_EQ(irq_restored, irq_original);
  EXPECT_EQ(irq_restored, 9u);
  EXPECT_EQ(restored.state(), original.state());
}

// A state with holes (entries in any order): the lowest free window and line come first.
TEST(ResourceAllocatorTest, RestoredHolesAreFilledLowestFirst) {
  ResourceAllocatorState state;
  state.mmio_windows = {{0xc0003000, kPage}, {0xc0000000, kPage}};
  state.irqs = {7, 5};
  ASSERT_OK_AND_ASSIGN(ResourceAllocator allocator, ResourceAllocator::FromState(state));
  EXPECT_THAT(allocator.state().irqs, ElementsAre(5, 7));
  // [0xc0001000, 0xc0003000) is free: two pages fit, three do not.
  ASSERT_OK_AND_ASSIGN(MmioWindow three, allocator.AllocateMmio(3 * kPage));
  EXPECT_EQ(three.base, 0xc0004000u);
  ASSERT_OK_AND_ASSIGN(MmioWindow two, allocator.AllocateMmio(2 * kPage));
  EXPECT_EQ(two.base, 0xc0001000u);
  ASSERT_OK_AND_ASSIGN(uint32_t irq, allocator.AllocateIrq());
  EXPECT_EQ(irq, 6u);
  ASSERT_OK_AND_ASSIGN(irq, allocator.AllocateIrq());
  EXPECT_EQ(irq, 9u);
}

TEST(ResourceAllocatorTest, InvalidStateIsRefused) {
  auto with_window = [](MmioWindow window) {
    ResourceAllocatorState state;
    state.mmio_windows = {window};
    return ResourceAllocator::FromState(state).status();
  };
  auto with_irqs = [](std::vector<uint32_t> irqs) {
    ResourceAllocatorState state;
    state.irqs = std::move(irqs);
    return ResourceAllocator::FromState(state).status();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(with_window({0xc0000000, 0}), StatusIs(kInvalid, HasSubstr("empty")));
  EXPECT_THAT(with_window({0xc0000800, kPage}),
              StatusIs(kInvalid, HasSubstr("[0xc0000800, +0x1000) is not whole, aligned pages")));
  EXPECT_THAT(with_window({0xc0000000, 0x200}), StatusIs(kInvalid, HasSubstr("aligned pages")));
  EXPECT_THAT(with_window({0xbffff000, kPage}), StatusIs(kInvalid, HasSubstr("outside")));
  EXPECT_THAT(with_window({0xcffff000, 2 * kPage}), StatusIs(kInvalid, HasSubstr("outside")));
  EXPECT_THAT(with_window({0xfec00000, kPage}), StatusIs(kInvalid, HasSubstr("outside")));
  EXPECT_THAT(with_window({0xc0001000, 0xfffffffffffff000}),  // its end wraps to 0xc0000000
              StatusIs(kInvalid, HasSubstr("outside")));
  EXPECT_OK(with_window({0xcffff000, kPage}));

  ResourceAllocatorState overlapping;
  overlapping.mmio_windows = {{0xc0000000, 2 * kPage}, {0xc0001000, kPage}};
  EXPECT_THAT(ResourceAllocator::FromState(overlapping).status(),
              StatusIs(kInvalid, HasSubstr("overlap")));

  EXPECT_THAT(with_irqs({4}), StatusIs(kInvalid, HasSubstr("IRQ line 4 is not a device line")));
  EXPECT_THAT(with_irqs({8}), StatusIs(kInvalid, HasSubstr("less 8 and 12")));
  EXPECT_THAT(with_irqs({12}), StatusIs(kInvalid, HasSubstr("IRQ line 12")));
  EXPECT_THAT(with_irqs({24}), StatusIs(kInvalid, HasSubstr("IRQ line 24")));
  EXPECT_THAT(with_irqs({9, 9}), StatusIs(kInvalid, HasSubstr("listed twice")));
  EXPECT_OK(with_irqs({23, 5}));
}

}  // namespace
}  // namespace vmmd
