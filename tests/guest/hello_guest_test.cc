// Boots the hello guest ELF, loaded by vmmd's own ELF loader, with the boot layer's state on
// the real /dev/kvm; plays a minimal 16550 (LSR always "transmitter empty") and i8042, and
// checks the whole banner it prints (tag: requires-kvm). The daemon's end-to-end test boots
// the same guest through vmmd.
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_matchers.h"
#include "boot/configure_boot.h"
#include "boot/elf_loader.h"
#include "boot/layout.h"
#include "gtest/gtest.h"
#include "tests/guest/guest_vm.h"

namespace vmmd {
namespace {

constexpr uint64_t kMemorySize = 128 << 20;
constexpr int kVcpuCount = 2;
constexpr char kGuestImage[] = "tests/guest/hello_guest.elf";
constexpr char kCmdline[] = "console=ttyS0 reboot=k vmmd.test=hello";

// COM1 (16550 datasheet: THR at +0, LSR at +5) and the i8042 command port.
constexpr uint16_t kCom1Data = 0x3f8;
constexpr uint16_t kCom1Lsr = 0x3fd;
constexpr uint8_t kLsrThreTemt = 0x60;  // transmit holding register and transmitter empty
constexpr uint16_t kI8042Command = 0x64;
constexpr uint8_t kI8042Reset = 0xfe;

// The guest's e820 lines for the map the boot layer says it wrote.
std::string E820Lines(const std::vector<E820Entry>& e820) {
  std::string text;
  for (const E820Entry& entry : e820) {
    const uint64_t addr = entry.addr, size = entry.size;
    const uint32_t type = entry.type;
    std::string name = type == 1   ? "usable"
                       : type == 2 ? "reserved"
                                   : absl::StrFormat("type %d", type);
    absl::StrAppendFormat(&text, "e820: [mem 0x%016x-0x%016x] %s\r\n", addr, addr + size - 1, name);
  }
  return text;
}

class HelloGuestTest : public testing::GuestVmTest {
 protected:
  void SetUp() override {
    GuestVmTest::SetUp();
    if (HasFatalFailure()) return;
    CreateMachine(kVcpuCount, kMemorySize);
  }
};

TEST_F(HelloGuestTest, PrintsTheBannerAndResets) {
  const std::vector<uint8_t> image = testing::ReadFile(kGuestImage);
  ASSERT_FALSE(image.empty()) << "missing " << kGuestImage;
  ASSERT_OK_AND_ASSIGN(LoadedKernel kernel, LoadElfKernel(BytesImageReader(image), *memory_));
  EXPECT_EQ(kernel.entry_point.value(), layout::kHighMemStart) << "guest.ld links the entry at 1 MiB";

  ASSERT_OK_AND_ASSIGN(auto supported_cpuid, kvm().GetSupportedCpuid());
  BootRequest request;
  request.entry_point = kernel.entry_point;
  request.kernel_end = kernel.end;
  request.cmdline = kCmdline;
  ASSERT_OK_AND_ASSIGN(BootInfo info,
                       ConfigureBoot(BootVm{supported_cpuid, vcpu_pointers()}, *memory_, request));
  ASSERT_FALSE(info.e820.empty());

  // Only the BSP runs; application processors wait for a SIPI this guest never sends.
  std::string console;
  const std::string failure = RunUntilDone(*vcpus_[0], [&](VcpuExit& exit) -> absl::StatusOr<Next> {
    if (auto* in = std::get_if<vcpu_exit::IoIn>(&exit); in && in->port == kCom1Lsr && in->size == 1) {
      in->data[0] = kLsrThreTemt;
      return Next::kContinue;
    }
    if (auto* out = std::get_if<vcpu_exit::IoOut>(&exit); out && out->size == 1) {
      if (out->port == kCom1Data) {
        console.append(out->data.begin(), out->data.end());
        return Next::kContinue;
      }
      if (out->port == kI8042Command && out->data[0] == kI8042Reset) return Next::kDone;
    }
    return absl::InternalError(absl::StrFormat("unexpected exit (variant %d)", exit.index()));
  });
  EXPECT_EQ(failure, "") << "console so far:\n" << console;
  // The memory line counts every e820 range, reserved ones included: exactly the RAM.
  uint64_t e820_bytes = 0;
  for (const E820Entry& e : info.e820) e820_bytes += e.size;
  ASSERT_EQ(e820_bytes, kMemorySize);
  EXPECT_EQ(console,
            "vmmd hello guest\r\n"
            "vcpus: 2\r\n"
            "memory: 128 MiB\r\n" +
                E820Lines(info.e820) +
                "cmdline: console=ttyS0 reboot=k vmmd.test=hello\r\n"
                "hello guest done, resetting\r\n");
}

}  // namespace
}  // namespace vmmd
