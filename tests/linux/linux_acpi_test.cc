// Debian's own Linux 6.1 kernels on vmmd's ACPI tables (ConfigureBootRequest.acpi "on", the
// default), through the real vmmd binary (tag: requires-kvm). /init is acpi_init (see
// acpi_init.c); the command line has no acpi=off and no device parts. Cases:
//   1. the cloud bzImage, which has no MP-table parser, with 1, 2 and 4 vCPUs: every CPU
//      comes online, so the MADT alone told it of them;
//   2. the generic bzImage with a raw virtio-blk drive and Debian's modules: virtio_mmio
//      binds the DSDT's LNRO0005 device (nothing on the command line names it) and /dev/vda
//      holds the bytes the test wrote.
// Each checks that Linux parsed the tables vmmd reports (its "ACPI: RSDP/XSDT/FACP/DSDT/APIC"
// lines at BootInfo's addresses, /sys/firmware/acpi/tables), that the MP table was not what it
// used, and ends with reboot(2) RB_POWER_OFF (`poweroff -f`): the guest's S5 request through
// the FADT's sleep register stops the VM with reason "guest poweroff".
#include <random>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/linux/cpio_archive.h"
#include "tests/linux/guest_initramfs.h"
#include "tests/linux/host_files.h"
#include "tests/linux/kernel_run.h"
#include "tests/linux/kernel_test.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::CpioArchive;
using ::vmmd::testing::ExpectInitChecks;
using ::vmmd::testing::kBootBound;
using ::vmmd::testing::kKernelCmdline;
using ::vmmd::testing::KernelRun;

constexpr char kInit[] = "tests/linux/acpi_init";
constexpr char kPrefix[] = "vmmd-acpi";

// Linux prints each table as "ACPI: DSDT 0x00000000000E0028 0000C5 (v02 VMMD   VMMDDSDT ...":
// upper-case hex address, then the length in hex. The RSDP's line has its address and
// revision, no length worth comparing.
void ExpectTablesAsReported(const std::string& console, const vmm::v1::BootInfo& info) {
  ASSERT_EQ(info.acpi_tables_size(), 5) << "BootInfo lists RSDP, DSDT, FACP, APIC, XSDT";
  for (const vmm::v1::AcpiTable& table : info.acpi_tables()) {
    const std::string address = absl::AsciiStrToUpper(absl::StrFormat("%016x", table.address()));
    if (table.signature() == "RSDP") {
      EXPECT_THAT(console, HasSubstr(absl::StrCat("ACPI: RSDP 0x", address))) << "RSDP";
      continue;
    }
    const std::string length = absl::AsciiStrToUpper(absl::StrFormat("%06x", table.length()));
    EXPECT_THAT(console, HasSubstr(absl::StrCat("ACPI: ", table.signature(), " 0x", address, " ", length)))
        << table.signature();
  }
}

class LinuxAcpiTest : public ::vmmd::testing::KernelTest {
 protected:
  // Boots `kernel` with the ACPI tables, waits for it to power off and checks what every case
  // must show; returns the console.
  std::string BootAndPowerOff(KernelRun& run, vmm::v1::CreateVmRequest create, const std::string& kernel,
                              const std::string& initrd, std::vector<const char*> checks) {
    vmm::v1::ConfigureBootRequest configure;
    configure.set_kernel_path(cache_ + "/" + kernel);
    configure.set_initrd_path(initrd);
    configure.set_cmdline(kKernelCmdline);  // no acpi=off, no devices
    const vmm::v1::BootInfo info = run.Boot(std::move(create), std::move(configure));
    if (HasFailure()) return "";
    EXPECT_EQ(info.cmdline(), kKernelCmdline) << "vmmd appended nothing: the DSDT names the devices";
    EXPECT_EQ(info.acpi_rsdp_address(), 0xe0000u);
    const std::string console = run.WaitForStop(kBootBound);
    checks.insert(checks.begin(), {"cpus", "tables"});
    ExpectInitChecks(console, kPrefix, checks, "powering off");
    ExpectTablesAsReported(console, info);
    EXPECT_THAT(console, HasSubstr("ACPI: Using ACPI (MADT) for SMP configuration information"));
    EXPECT_THAT(console, Not(HasSubstr("found SMP MP-table")));
    const vmm::v1::Vm vm = run.Get();
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
    EXPECT_EQ(vm.exit_reason(), "guest poweroff");
    return console;
  }

  std::string WriteInitramfs(const std::string& name, const std::string& expected, bool with_modules) {
    const std::string path = daemon_->image_root() + "/" + name + ".cpio";
    std::string archive;
    if (with_modules) {
      archive = ::vmmd::testing::GuestInitramfs(cache_, kInit, {{"expected", expected}});
    } else {
      CpioArchive cpio;
      for (const char* directory : {"dev", "proc", "sys"}) cpio.AddDirectory(directory);
      cpio.AddCharDevice("dev/console", 5, 1);
      cpio.AddFile("init", ::vmmd::testing::ReadFile(kInit), 0755);
      cpio.AddFile("expected", expected);
      archive = std::move(cpio).Finish();
    }
    EXPECT_TRUE(::vmmd::testing::WriteFile(path, archive)) << path;
    return path;
  }

  void CloudKernelBringsUpEveryCpu(uint32_t vcpus) {
    const std::string id = absl::StrCat("cloud-", vcpus);
    const std::string initrd = WriteInitramfs(id, absl::StrCat("cpus ", vcpus, "\n"), false);
    vmm::v1::CreateVmRequest create;
    create.set_vcpu_count(vcpus);
    create.set_memory_mib(256);
    KernelRun run(stub_.get(), id, daemon_.get());
    const std::string console = BootAndPowerOff(run, create, "vmlinuz-cloud", initrd, {});
    EXPECT_THAT(console, HasSubstr(absl::StrCat("check cpus: PASS (online ", vcpus == 1 ? "0" : absl::StrCat("0-", vcpus - 1))));
    EXPECT_TRUE(std::regex_search(console, std::regex(R"(Linux version 6\.1\.\S+-cloud-amd64)"))) << "the cloud kernel";
  }
};

TEST_F(LinuxAcpiTest, CloudKernelOneVcpu) { CloudKernelBringsUpEveryCpu(1); }
TEST_F(LinuxAcpiTest, CloudKernelTwoVcpus) { CloudKernelBringsUpEveryCpu(2); }
TEST_F(LinuxAcpiTest, CloudKernelFourVcpus) { CloudKernelBringsUpEveryCpu(4); }

TEST_F(LinuxAcpiTest, GenericKernelFindsItsDriveThroughTheDsdt) {
  std::mt19937_64 random(7);
  std::string image(4 << 20, '\0');
  for (char& byte : image) byte = static_cast<char>(random());
  const std::string image_path = daemon_->image_root() + "/acpi-drive.img";
  ASSERT_TRUE(::vmmd::testing::WriteFile(image_path, image));
  const uint64_t hash = ::vmmd::testing::Fnv1a64(image.substr(0, 4096));
  const std::string initrd =
      WriteInitramfs("generic-drive", absl::StrFormat("cpus 2\ndrive %016x\n", hash), true);
  vmm::v1::CreateVmRequest create;
  create.set_vcpu_count(2);
  create.set_memory_mib(256);
  vmm::v1::Drive* drive = create.add_drives();
  drive->set_drive_id("data");
  drive->set_path(image_path);
  drive->set_read_only(true);
  KernelRun run(stub_.get(), "generic-drive", daemon_.get());
  BootAndPowerOff(run, create, "vmlinuz-generic", initrd, {"modules", "drive"});
}

}  // namespace
}  // namespace vmmd
