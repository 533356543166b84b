// Boots Debian's own Linux 6.1 kernels through the real vmmd binary to userspace, and checks
// there and in the kernel's own messages that the kernel got what vmmd says it wrote (tag:
// requires-kvm). Each case builds an initramfs whose /init is userspace_init (a static program
// built by Bazel) with what it must find, and boots:
//   1. the generic vmlinux through the 64-bit entry for 1, 2 and 4 vCPUs;
//   2. the same through PVH;
//   3. the generic bzImage through its 64-bit entry;
//   4. the cloud bzImage (1 vCPU: it has no MP-table parser);
//   5. the generic vmlinux with 4096 MiB: RAM below 3 GiB and from 4 GiB, nothing in the gap.
// From userspace, one console line per check: the online CPU count equals vcpu_count,
// /proc/cmdline equals ours exactly, the initrd's payload arrived intact (size and hash),
// and the firmware memory map (/sys/firmware/memmap) is listed for this test to compare with
// BootInfo's e820. Then /init reboots (reboot=k): the VM must stop with "guest reset".
// From the kernel's early messages (the kernel boots `quiet`; /init repeats these from its
// log): its BIOS-e820 lines equal BootInfo, the MP table is found at 0x9fc00 with
// "Processors: N" (generic kernel), "RAMDISK: [mem X-Y]" is where BootInfo put the initrd.
// Each case records how long the kernel took to reach /init. Every case boots with acpi "off":
// this is the MP-table path (linux_acpi_test boots with the ACPI tables).
// The kernels come from tests/linux/fetch_kernels.sh (tools/test runs it).
#include <ostream>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/linux/cpio_archive.h"
#include "tests/linux/host_files.h"
#include "tests/linux/kernel_run.h"
#include "tests/linux/kernel_test.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::CpioArchive;
using ::vmmd::testing::kKernelCmdline;
using ::vmmd::testing::KernelRun;

constexpr char kInit[] = "tests/linux/userspace_init";

struct E820Line {
  uint64_t start, end;  // inclusive, as the kernel prints it
  std::string type;
  bool operator==(const E820Line& o) const { return start == o.start && end == o.end && type == o.type; }
};

std::ostream& operator<<(std::ostream& os, const E820Line& line) {
  return os << absl::StrFormat("[%#x-%#x] %s", line.start, line.end, line.type);
}

std::vector<E820Line> Matches(const std::string& console, const std::regex& line) {
  std::vector<E820Line> lines;
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line); it != std::sregex_iterator(); ++it) {
    lines.push_back({std::stoull((*it)[1], nullptr, 16), std::stoull((*it)[2], nullptr, 16), (*it)[3]});
  }
  return lines;
}

// The kernel's "BIOS-e820: [mem 0x...-0x...] usable" lines, in order.
std::vector<E820Line> KernelE820(const std::string& console) {
  return Matches(console, std::regex(R"(BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (\w+))"));
}

// userspace_init's "vmmd-init: memmap 0x...-0x... System RAM" lines, from /sys/firmware/memmap.
std::vector<E820Line> FirmwareMemmap(const std::string& console) {
  return Matches(console, std::regex(R"(vmmd-init: memmap 0x([0-9a-f]+)-0x([0-9a-f]+) ([^\r\n]+))"));
}

// BootInfo's e820 as the kernel names its types: in its boot log, or in /sys/firmware/memmap
// (arch/x86/kernel/e820.c, e820_print_type and e820_type_to_string).
std::vector<E820Line> BootInfoE820(const vmm::v1::BootInfo& info, bool firmware_names) {
  std::vector<E820Line> lines;
  for (const vmm::v1::E820Entry& entry : info.e820()) {
    std::string type = entry.type() == 1 ? (firmware_names ? "System RAM" : "usable")
                                         : (firmware_names ? "Reserved" : "reserved");
    lines.push_back({entry.address(), entry.address() + entry.size() - 1, type});
  }
  return lines;
}

// The initramfs of one case: /init and what it must find.
std::string Initramfs(uint32_t vcpus, const std::string& cmdline, const std::string& name) {
  const std::string init = ::vmmd::testing::ReadFile(kInit);
  EXPECT_FALSE(init.empty()) << "missing " << kInit;
  std::mt19937_64 random(std::hash<std::string>()(name));
  std::string payload(768 * 1024 + 13, '\0');
  for (char& byte : payload) byte = static_cast<char>(random());
  CpioArchive archive;
  for (const char* directory : {"dev", "proc", "sys"}) archive.AddDirectory(directory);
  archive.AddCharDevice("dev/console", 5, 1);
  archive.AddFile("init", init, 0755);
  archive.AddFile("payload", payload);
  archive.AddFile("expected", absl::StrFormat("cpus %d\ncmdline %s\npayload %d %016x\n", vcpus, cmdline,
                                              payload.size(), ::vmmd::testing::Fnv1a64(payload)));
  return std::move(archive).Finish();
}

struct Boot {
  std::string kernel;  // file in the kernel cache
  std::string protocol;
  uint32_t vcpus;
  uint64_t memory_mib;
  bool mp_table;  // the kernel parses the MP table (the cloud kernel does not)
  std::string cmdline = kKernelCmdline;
};

// kKernelCmdline padded to `length` bytes with a parameter for a module that does not exist
// (Linux ignores those, and keeps them in /proc/cmdline).
std::string PaddedCmdline(size_t length) {
  std::string cmdline = absl::StrCat(kKernelCmdline, " vmmd.pad=");
  cmdline.resize(length, 'p');
  return cmdline;
}

class LinuxBootTest : public ::vmmd::testing::KernelTest {
 protected:
  // Boots to userspace and checks everything the header lists; returns BootInfo and console.
  std::pair<vmm::v1::BootInfo, std::string> BootToUserspace(const std::string& id, const Boot& boot) {
    const std::string initrd = daemon_->image_root() + "/" + id + ".cpio";
    EXPECT_TRUE(::vmmd::testing::WriteFile(initrd, Initramfs(boot.vcpus, boot.cmdline, id))) << initrd;
    KernelRun run(stub_.get(), id, daemon_.get());
    const vmm::v1::BootInfo info =
        run.Boot(boot.vcpus, boot.memory_mib, cache_ + "/" + boot.kernel, boot.protocol, initrd,
                 boot.cmdline, "off");
    if (HasFailure()) return {info, ""};  // it never started: nothing to wait for
    const std::string console = run.WaitForStop(::vmmd::testing::kBootBound);
    const std::string excerpt = console.size() > 6000 ? console.substr(console.size() - 6000) : console;

    // From userspace.
    EXPECT_THAT(console, HasSubstr("vmmd-init: reached userspace")) << excerpt;
    for (const char* check : {"cpus", "cmdline", "initrd"}) {
      EXPECT_THAT(console, HasSubstr(absl::StrCat("vmmd-init: check ", check, ": PASS"))) << excerpt;
    }
    EXPECT_EQ(FirmwareMemmap(console), BootInfoE820(info, /*firmware_names=*/true)) << excerpt;
    EXPECT_THAT(console, HasSubstr("vmmd-init: 0 checks failed; rebooting")) << excerpt;
    const vmm::v1::Vm vm = run.Get();
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
    EXPECT_EQ(vm.exit_reason(), "guest reset");

    // From the kernel's early messages.
    EXPECT_EQ(KernelE820(console), BootInfoE820(info, /*firmware_names=*/false));
    if (boot.mp_table) {
      EXPECT_THAT(console, HasSubstr("found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]"));
      EXPECT_THAT(console, HasSubstr(absl::StrCat("Processors: ", boot.vcpus, "\r")));
    }
    std::smatch ramdisk;
    const bool found = std::regex_search(console, ramdisk, std::regex(R"(RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\])"));
    EXPECT_TRUE(found) << "no RAMDISK line";
    if (found) {
      EXPECT_EQ(std::stoull(ramdisk[1], nullptr, 16), info.initrd_address());
      // arch/x86/kernel/setup.c, reserve_initrd(): the end it prints is page-aligned, minus 1.
      EXPECT_EQ(std::stoull(ramdisk[2], nullptr, 16),
                ((info.initrd_address() + info.initrd_size() + 0xfff) & ~0xfffull) - 1);
    }
    return {info, console};
  }
};

TEST_F(LinuxBootTest, GenericVmlinux64BitEntryOneVcpu) {
  EXPECT_EQ(BootToUserspace("linux64-1", {"vmlinux", "linux64", 1, 256, true}).first.boot_protocol(), "linux64");
}
TEST_F(LinuxBootTest, GenericVmlinux64BitEntryTwoVcpus) {
  EXPECT_EQ(BootToUserspace("linux64-2", {"vmlinux", "linux64", 2, 256, true}).first.boot_protocol(), "linux64");
}
TEST_F(LinuxBootTest, GenericVmlinux64BitEntryFourVcpus) {
  EXPECT_EQ(BootToUserspace("linux64-4", {"vmlinux", "linux64", 4, 256, true}).first.boot_protocol(), "linux64");
}
// With the longest command line vmmd accepts for an ELF kernel (2047 bytes): /init checks that
// /proc/cmdline holds every byte of it.
TEST_F(LinuxBootTest, GenericVmlinuxPvhOneVcpuLongestCmdline) {
  const Boot boot{"vmlinux", "pvh", 1, 256, true, PaddedCmdline(2047)};
  const vmm::v1::BootInfo info = BootToUserspace("pvh-1", boot).first;
  EXPECT_EQ(info.boot_protocol(), "pvh");
  EXPECT_EQ(info.cmdline_size(), 2048u);
}
TEST_F(LinuxBootTest, GenericVmlinuxPvhTwoVcpus) {
  EXPECT_EQ(BootToUserspace("pvh-2", {"vmlinux", "pvh", 2, 256, true}).first.boot_protocol(), "pvh");
}
TEST_F(LinuxBootTest, GenericVmlinuxPvhFourVcpus) {
  EXPECT_EQ(BootToUserspace("pvh-4", {"vmlinux", "pvh", 4, 256, true}).first.boot_protocol(), "pvh");
}

TEST_F(LinuxBootTest, GenericBzImage64BitEntry) {
  const vmm::v1::BootInfo info = BootToUserspace("generic-bzimage", {"vmlinuz-generic", "auto", 2, 256, true}).first;
  EXPECT_EQ(info.kernel_format(), "bzimage");
  EXPECT_EQ(info.boot_protocol(), "linux64");
  EXPECT_EQ(info.entry_point(), 0x100200u);
}

TEST_F(LinuxBootTest, CloudBzImage64BitEntry) {
  const auto [info, console] = BootToUserspace("cloud-bzimage", {"vmlinuz-cloud", "auto", 1, 256, false});
  EXPECT_EQ(info.kernel_format(), "bzimage");
  EXPECT_EQ(info.boot_protocol(), "linux64");
  EXPECT_TRUE(std::regex_search(console, std::regex(R"(Linux version 6\.1\.\S+-cloud-amd64)")));
  EXPECT_THAT(console, HasSubstr(absl::StrCat("Command line: ", kKernelCmdline, "\r")));
}

TEST_F(LinuxBootTest, FourGiBLeaveTheMmioGapOut) {
  const auto [info, console] = BootToUserspace("four-gib", {"vmlinux", "linux64", 1, 4096, true});
  const std::vector<E820Line> memmap = FirmwareMemmap(console);
  EXPECT_EQ(memmap, (std::vector<E820Line>{{0x0, 0x9fbff, "System RAM"},
                                           {0x9fc00, 0xfffff, "Reserved"},
                                           {0x100000, 0xbfffffff, "System RAM"},
                                           {0x100000000, 0x13fffffff, "System RAM"}}));
  for (const E820Line& line : memmap) {
    EXPECT_FALSE(line.start < 0x100000000 && line.end >= 0xc0000000) << line << " is in the gap";
  }
}

}  // namespace
}  // namespace vmmd
