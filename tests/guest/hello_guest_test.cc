// Boots the hello guest ELF with the boot layer's state on the real /dev/kvm, plays a minimal
// 16550 (LSR always "transmitter empty") and i8042, and checks the whole banner it prints
// (tag: requires-kvm). The daemon's end-to-end test boots the same guest through vmmd.
#include <elf.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/status_matchers.h"
#include "boot/configure_boot.h"
#include "boot/layout.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"

namespace vmmd {
namespace {

constexpr uint64_t kMemorySize = 128 << 20;
constexpr int kVcpuCount = 2;
constexpr char kGuestImage[] = "tests/guest/hello_guest.elf";
constexpr char kCmdline[] = "console=ttyS0 reboot=k vmmd.test=hello";
// A hang guard, not a timing assertion: the guest needs well under a second even on nested
// KVM; if it never resets, the run is stopped so the test fails instead of hanging.
constexpr auto kHangGuard = std::chrono::seconds(120);

// COM1 (16550 datasheet: THR at +0, LSR at +5) and the i8042 command port.
constexpr uint16_t kCom1Data = 0x3f8;
constexpr uint16_t kCom1Lsr = 0x3fd;
constexpr uint8_t kLsrThreTemt = 0x60;  // transmit holding register and transmitter empty
constexpr uint16_t kI8042Command = 0x64;
constexpr uint8_t kI8042Reset = 0xfe;

std::vector<uint8_t> ReadFile(const char* path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

// Places the PT_LOAD segments of an ELF64 x86-64 executable at their physical addresses
// (zeroing p_memsz beyond p_filesz) and returns its entry point. The test's own small loader:
// it checks what the hello guest's build promises, nothing more.
absl::StatusOr<GuestAddress> LoadElf(const std::vector<uint8_t>& image, GuestMemory& memory) {
  Elf64_Ehdr ehdr;
  if (image.size() < sizeof(ehdr)) return absl::InvalidArgumentError("shorter than an ELF header");
  std::memcpy(&ehdr, image.data(), sizeof(ehdr));
  if (std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError("no ELF magic");
  }
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64) return absl::InvalidArgumentError("not ELFCLASS64");
  if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB) return absl::InvalidArgumentError("not little-endian");
  if (ehdr.e_machine != EM_X86_64) return absl::InvalidArgumentError("e_machine is not EM_X86_64");
  if (ehdr.e_type != ET_EXEC) return absl::InvalidArgumentError("not ET_EXEC");
  if (ehdr.e_phentsize != sizeof(Elf64_Phdr)) return absl::InvalidArgumentError("bad e_phentsize");
  if (ehdr.e_phoff > image.size() ||
      uint64_t{ehdr.e_phnum} * sizeof(Elf64_Phdr) > image.size() - ehdr.e_phoff) {
    return absl::InvalidArgumentError("program headers outside the file");
  }
  int loaded = 0;
  for (int i = 0; i < ehdr.e_phnum; ++i) {
    Elf64_Phdr phdr;
    std::memcpy(&phdr, image.data() + ehdr.e_phoff + i * sizeof(Elf64_Phdr), sizeof(phdr));
    if (phdr.p_type != PT_LOAD) continue;
    if (phdr.p_offset > image.size() || phdr.p_filesz > image.size() - phdr.p_offset) {
      return absl::InvalidArgumentError(absl::StrFormat("segment %d outside the file", i));
    }
    if (phdr.p_filesz > phdr.p_memsz) {
      return absl::InvalidArgumentError(absl::StrFormat("segment %d: p_filesz > p_memsz", i));
    }
    if (!memory.Contains(GuestAddress(phdr.p_paddr), phdr.p_memsz)) {
      return absl::OutOfRangeError(absl::StrFormat("segment %d does not fit in guest memory", i));
    }
    absl::Status status =
        memory.WriteBytes(GuestAddress(phdr.p_paddr),
                          absl::MakeConstSpan(image.data() + phdr.p_offset, phdr.p_filesz));
    if (!status.ok()) return status;
    status =
        memory.Fill(GuestAddress(phdr.p_paddr + phdr.p_filesz), 0, phdr.p_memsz - phdr.p_filesz);
    if (!status.ok()) return status;
    ++loaded;
  }
  if (loaded == 0) return absl::InvalidArgumentError("no PT_LOAD segment");
  return GuestAddress(ehdr.e_entry);
}

// What the guest printed on COM1 until it asked the i8042 for a reset.
struct GuestRun {
  std::string console;
  bool reset = false;
  std::string failure;
};

GuestRun RunUntilReset(Vcpu& vcpu) {
  GuestRun run;
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  std::thread guard([&] {
    std::unique_lock<std::mutex> lock(mutex);
    if (!done.wait_for(lock, kHangGuard, [&] { return finished; })) vcpu.RequestExit();
  });
  for (int exits = 0; exits < 100000 && !run.reset && run.failure.empty(); ++exits) {
    absl::StatusOr<VcpuExit> exit = vcpu.Run();
    if (!exit.ok()) {
      run.failure = exit.status().ToString();
      break;
    }
    if (auto* in = std::get_if<vcpu_exit::IoIn>(&*exit)) {
      if (in->port == kCom1Lsr && in->size == 1 && in->count == 1) {
        in->data[0] = kLsrThreTemt;
        continue;
      }
      run.failure = absl::StrFormat("unexpected IN from port %#x (size %d, count %d)", in->port,
                                    in->size, in->count);
      break;
    }
    if (auto* out = std::get_if<vcpu_exit::IoOut>(&*exit)) {
      if (out->port == kCom1Data && out->size == 1) {
        run.console.append(out->data.begin(), out->data.end());
        continue;
      }
      if (out->port == kI8042Command && out->size == 1 && out->count == 1 &&
          out->data[0] == kI8042Reset) {
        run.reset = true;
        continue;
      }
      run.failure = absl::StrFormat("unexpected OUT to port %#x (size %d, first byte %#x)",
                                    out->port, out->size, out->data.empty() ? 0 : out->data[0]);
      break;
    }
    run.failure = "unexpected exit, variant index " + std::to_string(exit->index());
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  done.notify_one();
  guard.join();
  return run;
}

// The guest's e820 lines for the map the boot layer says it wrote.
std::string E820Lines(const std::vector<boot_e820_entry>& e820) {
  std::string text;
  for (const boot_e820_entry& entry : e820) {
    const uint64_t addr = entry.addr, size = entry.size;
    const uint32_t type = entry.type;
    std::string name = type == 1   ? "usable"
                       : type == 2 ? "reserved"
                                   : absl::StrFormat("type %d", type);
    absl::StrAppendFormat(&text, "e820: [mem 0x%016x-0x%016x] %s\r\n", addr, addr + size - 1, name);
  }
  return text;
}

class HelloGuestTest : public testing::KvmTest {
 protected:
  // The machine vmmd builds: TSS, identity map, irqchip, PIT, RAM, vCPUs.
  void SetUp() override {
    KvmTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_OK_AND_ASSIGN(Vm vm, kvm().CreateVm());
    vm_.emplace(std::move(vm));
    ASSERT_OK(vm_->SetTssAddress(GuestAddress(layout::kKvmTssAddress)));
    ASSERT_OK(vm_->SetIdentityMapAddress(GuestAddress(layout::kKvmIdentityMapAddress)));
    ASSERT_OK(vm_->CreateIrqchip());
    ASSERT_OK(vm_->CreatePit2());
    ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kMemorySize));
    memory_.emplace(std::move(memory));
    ASSERT_OK(vm_->MapGuestMemory(*memory_));
    for (int id = 0; id < kVcpuCount; ++id) {
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<Vcpu> vcpu, vm_->CreateVcpu(id));
      vcpus_.push_back(std::move(vcpu));
    }
  }

  std::optional<Vm> vm_;
  std::optional<GuestMemory> memory_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
};

TEST_F(HelloGuestTest, PrintsTheBannerAndResets) {
  const std::vector<uint8_t> image = ReadFile(kGuestImage);
  ASSERT_FALSE(image.empty()) << "missing " << kGuestImage;
  ASSERT_OK_AND_ASSIGN(GuestAddress entry, LoadElf(image, *memory_));
  EXPECT_EQ(entry.value(), layout::kHighMemStart) << "guest.ld links the entry at 1 MiB";

  ASSERT_OK_AND_ASSIGN(auto supported_cpuid, kvm().GetSupportedCpuid());
  std::vector<Vcpu*> vcpus;
  for (auto& vcpu : vcpus_) vcpus.push_back(vcpu.get());
  BootRequest request;
  request.entry_point = entry;
  request.cmdline = kCmdline;
  ASSERT_OK_AND_ASSIGN(BootInfo info,
                       ConfigureBoot(BootVm{supported_cpuid, vcpus}, *memory_, request));
  ASSERT_FALSE(info.e820.empty());

  // Only the BSP runs; application processors wait for a SIPI this guest never sends.
  const GuestRun run = RunUntilReset(*vcpus_[0]);
  EXPECT_EQ(run.failure, "") << "console so far:\n" << run.console;
  EXPECT_TRUE(run.reset) << "the guest never wrote 0xFE to the i8042";
  // The memory line counts every e820 range, reserved ones included: exactly the RAM.
  uint64_t e820_bytes = 0;
  for (const boot_e820_entry& e : info.e820) e820_bytes += e.size;
  ASSERT_EQ(e820_bytes, kMemorySize);
  EXPECT_EQ(run.console,
            "vmmd hello guest\r\n"
            "vcpus: 2\r\n"
            "memory: 128 MiB\r\n" +
                E820Lines(info.e820) +
                "cmdline: console=ttyS0 reboot=k vmmd.test=hello\r\n"
                "hello guest done, resetting\r\n");
}

}  // namespace
}  // namespace vmmd
