// Boots the boot-contract guest with the boot layer's state on the real /dev/kvm and checks
// every finding it reports from inside the VM (tag: requires-kvm).
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status_matchers.h"
#include "boot/configure_boot.h"
#include "boot/layout.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "tests/guest/guest_vm.h"
#include "tests/guest/boot_contract_protocol.h"

namespace vmmd {
namespace {

constexpr uint64_t kMemorySize = 128 << 20;
constexpr char kGuestImage[] = "tests/guest/boot_contract_guest.bin";
constexpr char kCmdline[] = "console=ttyS0 vmmd.test=boot-contract panic=-1";

uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

class BootContractTest : public testing::GuestVmTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override {
    GuestVmTest::SetUp();
    if (HasFatalFailure()) return;
    CreateMachine(GetParam(), kMemorySize);
  }
};

TEST_P(BootContractTest, GuestSeesTheBootContract) {
  const int vcpu_count = GetParam();
  const std::vector<uint8_t> image = testing::ReadFile(kGuestImage);
  ASSERT_FALSE(image.empty()) << "missing " << kGuestImage;
  ASSERT_OK(memory_->WriteBytes(GuestAddress(layout::kHighMemStart), image));

  ASSERT_OK_AND_ASSIGN(auto supported_cpuid, kvm().GetSupportedCpuid());
  BootRequest request;
  request.entry_point = GuestAddress(layout::kHighMemStart);
  request.cmdline = kCmdline;
  ASSERT_OK_AND_ASSIGN(BootInfo info,
                       ConfigureBoot(BootVm{supported_cpuid, vcpu_pointers()}, *memory_, request));

  // Only the BSP runs; application processors wait for a SIPI this guest never sends.
  // Reports are three 32-bit OUTs to the report port; the run ends at the exit port.
  std::map<uint32_t, uint64_t> r;
  std::vector<uint32_t> words;
  std::optional<uint32_t> exit_code;
  const std::string failure = RunUntilDone(*vcpus_[0], [&](VcpuExit& exit) -> absl::StatusOr<Next> {
    auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
    if (out == nullptr || out->size != 4) return absl::InternalError("unexpected exit");
    uint32_t word;
    std::memcpy(&word, out->data.data(), 4);
    if (out->port == kGuestExitPort) {
      exit_code = word;
      return Next::kDone;
    }
    if (out->port != kGuestReportPort) return absl::InternalError("OUT to an unexpected port");
    words.push_back(word);
    if (words.size() == 3) {
      r[words[0]] = words[1] | (uint64_t{words[2]} << 32);
      words.clear();
    }
    return Next::kContinue;
  });
  ASSERT_EQ(failure, "");
  ASSERT_EQ(exit_code, 0u);
  auto get = [&](uint32_t key) -> uint64_t {
    auto it = r.find(key);
    EXPECT_NE(it, r.end()) << "guest did not report key " << GUEST_KEY_ID(key) << " index "
                           << GUEST_KEY_INDEX(key);
    return it == r.end() ? ~0ull : it->second;
  };

  // Long mode and paging, entered as the 64-bit boot protocol says.
  EXPECT_EQ(get(kKeyEntryRsi), layout::kZeroPageStart);
  EXPECT_EQ(get(kKeyEntryRsp), layout::kBootStackPointer);
  EXPECT_TRUE(get(kKeyCr0) & (1u << 31)) << "CR0.PG";
  EXPECT_TRUE(get(kKeyCr0) & 1) << "CR0.PE";
  EXPECT_TRUE(get(kKeyCr4) & (1u << 5)) << "CR4.PAE";
  EXPECT_EQ(get(kKeyCr3), info.page_table_root.value());
  EXPECT_TRUE(get(kKeyEfer) & (1u << 10)) << "EFER.LMA";
  EXPECT_TRUE(get(kKeyEfer) & (1u << 8)) << "EFER.LME";
  EXPECT_EQ(get(kKeyCpuidApicId), 0u);
  EXPECT_EQ(get(kKeyCpuidHypervisor), 1u);
  EXPECT_EQ(get(kKeyLapicId), 0u) << "LAPIC reachable through the identity map";

  // The zero page.
  EXPECT_EQ(get(kKeyZeroPageHeader), 0x53726448u) << "HdrS";
  EXPECT_EQ(get(kKeyZeroPageBootFlag), 0xaa55u);
  ASSERT_EQ(get(kKeyE820Count), info.e820.size());
  for (uint32_t i = 0; i < info.e820.size(); ++i) {
    EXPECT_EQ(get(GUEST_KEY(kKeyE820Address, i)), info.e820[i].addr) << "e820 entry " << i;
    EXPECT_EQ(get(GUEST_KEY(kKeyE820Size, i)), info.e820[i].size) << "e820 entry " << i;
    EXPECT_EQ(get(GUEST_KEY(kKeyE820Type, i)), info.e820[i].type) << "e820 entry " << i;
  }
  EXPECT_EQ(info.e820.back().addr + info.e820.back().size, kMemorySize);
  EXPECT_EQ(get(kKeyCmdlinePointer), layout::kCmdlineStart);
  EXPECT_EQ(get(kKeyCmdlineLength), std::string(kCmdline).size());
  EXPECT_EQ(get(kKeyCmdlineHash), Fnv1a(kCmdline));

  // The MP table.
  EXPECT_EQ(get(kKeyMpFloatingPointer), layout::kMpTableStart);
  EXPECT_EQ(get(kKeyMpFloatingChecksumOk), 1u);
  EXPECT_EQ(get(kKeyMpTableChecksumOk), 1u);
  EXPECT_EQ(get(kKeyMpEntriesParsed), 1u);
  EXPECT_EQ(get(kKeyMpProcessorCount), static_cast<uint64_t>(vcpu_count));
  for (int i = 0; i < vcpu_count; ++i) {
    EXPECT_EQ(get(GUEST_KEY(kKeyMpProcessorApicId, i)), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(get(kKeyMpBootstrapCount), 1u);
  EXPECT_EQ(get(kKeyMpBootstrapApicId), 0u);
  EXPECT_EQ(get(kKeyMpIoApicCount), 1u);
  EXPECT_EQ(get(kKeyMpIoInterruptCount), 16u);
  EXPECT_EQ(get(kKeyMpLocalInterruptCount), 2u);
}

INSTANTIATE_TEST_SUITE_P(VcpuCounts, BootContractTest, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "vcpus"; });

}  // namespace
}  // namespace vmmd
