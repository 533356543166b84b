// vmmd's virtio-mmio devices used by Debian's own Linux 6.1 drivers, through the real vmmd
// binary (tag: requires-kvm). The test builds two ext4 images without root privileges
// (mkfs.ext4 -d, e2fsprogs) under the daemon's image root: a root drive holding given.txt, of
// random bytes only the test knows, and a second drive holding second.txt. It boots the
// generic bzImage with both drives (root read-write, second read-only) and the entropy
// device, and an initramfs whose /init is drive_init (a static program built by Bazel) with
// the kernel modules tests/linux/fetch_kernels.sh keeps (virtio_mmio, virtio_blk,
// virtio-rng, ext4 and what they need). Checked:
//   BootInfo  three devices (virtio-blk, virtio-blk, virtio-rng) with distinct IRQs and
//             disjoint windows, each announced on the command line as
//             virtio_mmio.device=<size>@<base>:<irq> in that order, and root=/dev/vda rw;
//   guest     drive_init's checks (see drive_init.c): modules load, /dev/vda, /dev/vdb and
//             /dev/hwrng appear, serials and sizes and read-only flags as created, both
//             filesystems mount, given.txt and second.txt read back with the test's hashes,
//             64 bytes of /dev/hwrng, written.txt written, the read-only mount refuses a
//             write, both unmount; then the VM stops with "guest reset";
//   counters  GetVm's device counters: requests and bytes each way where the guest moved
//             them, no errors, no refused register accesses, no device needing a reset;
//   images    afterwards, on the host: debugfs reads written.txt (the guest's hwrng line and
//             the lines drive_init writes) and given.txt back from the root image, e2fsck
//             finds it clean, and the read-only image's bytes are unchanged.
// A second case holds an image read-write in one VM: CreateVm of another VM naming it (rw or
// ro) fails with FAILED_PRECONDITION naming drives[i].path, leaves nothing behind, and
// succeeds once the first VM is deleted.
#include <sys/stat.h>

#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/linux/guest_initramfs.h"
#include "tests/linux/host_command.h"
#include "tests/linux/host_files.h"
#include "tests/linux/kernel_cache.h"
#include "tests/linux/kernel_run.h"
#include "tests/linux/kernel_test.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::CommandResult;
using ::vmmd::testing::Describe;
using ::vmmd::testing::ExpectInitChecks;
using ::vmmd::testing::FindTool;
using ::vmmd::testing::GuestInitramfs;
using ::vmmd::testing::Fnv1a64;
using ::vmmd::testing::kBootBound;
using ::vmmd::testing::kKernelCmdline;
using ::vmmd::testing::KernelRun;
using ::vmmd::testing::ReadFile;
using ::vmmd::testing::RunCommand;
using ::vmmd::testing::TempDir;
using ::vmmd::testing::WriteFile;

constexpr char kInit[] = "tests/linux/drive_init";
constexpr uint64_t kImageBytes = 32 << 20;  // mkfs.ext4's size argument below: 32M
// drive_init.c's checks, each of which must say PASS.
constexpr const char* kGuestChecks[] = {"modules", "devices", "cmdline", "drive", "mount", "given",
                                        "second", "hwrng", "hwrng-current", "written", "readonly",
                                        "unmount"};

std::string RandomBytes(size_t size) {
  std::random_device seed;
  std::mt19937_64 random((uint64_t{seed()} << 32) | seed());
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random());
  return bytes;
}

// A 32 MiB ext4 image at `image` holding `files` (name -> contents) in its root directory,
// built without privileges: mkfs.ext4 -d copies a directory's tree into the new filesystem.
::testing::AssertionResult MakeExt4Image(const std::string& image,
                                         const std::vector<std::pair<std::string, std::string>>& files) {
  const std::string mkfs = FindTool("mkfs.ext4");
  if (mkfs.empty()) return ::testing::AssertionFailure() << "no mkfs.ext4 (apt-get install e2fsprogs)";
  const std::string dir = absl::StrCat(TempDir(), "/", image.substr(image.rfind('/') + 1), ".d");
  ::mkdir(dir.c_str(), 0755);
  for (const auto& [name, contents] : files) {
    if (!WriteFile(absl::StrCat(dir, "/", name), contents)) {
      return ::testing::AssertionFailure() << "cannot write " << dir << "/" << name;
    }
  }
  const std::vector<std::string> argv = {mkfs, "-q", "-F", "-d", dir, image, "32M"};
  const CommandResult result = RunCommand(argv);
  if (result.exit_status != 0) return ::testing::AssertionFailure() << Describe(argv, result);
  return ::testing::AssertionSuccess();
}

// debugfs -R 'cat /NAME' IMAGE: a file of an ext4 image, read without mounting it.
std::string DebugfsCat(const std::string& image, const std::string& name) {
  const std::vector<std::string> argv = {FindTool("debugfs"), "-R", absl::StrCat("cat /", name), image};
  const CommandResult result = RunCommand(argv);
  EXPECT_EQ(result.exit_status, 0) << Describe(argv, result);
  return result.out;
}

// drive_init's written.txt: the hwrng line, then 4096 numbered lines.
std::string ExpectedWrittenFile(const std::string& hwrng_hex) {
  std::string text = absl::StrCat("hwrng ", hwrng_hex, "\n");
  for (int i = 0; i < 4096; ++i) absl::StrAppendFormat(&text, "line %04d of written.txt\n", i);
  return text;
}

// Linux's memparse(): a number (0x for hex) with an optional K, M or G.
uint64_t MemParse(const std::string& text) {
  size_t end = 0;
  uint64_t value = std::stoull(text, &end, 0);
  switch (end < text.size() ? text[end] : '\0') {
    case 'G': case 'g': value <<= 10; [[fallthrough]];
    case 'M': case 'm': value <<= 10; [[fallthrough]];
    case 'K': case 'k': value <<= 10;
  }
  return value;
}

// The command line's virtio_mmio.device=<size>@<base>:<irq> parts, in order, as DeviceInfo
// (mmio_size, mmio_address, irq).
std::vector<vmm::v1::DeviceInfo> AnnouncedDevices(const std::string& cmdline) {
  std::vector<vmm::v1::DeviceInfo> devices;
  const std::regex part(R"((?:^| )virtio_mmio\.device=(\w+)@(0x[0-9a-fA-F]+|[0-9]+):([0-9]+)(?= |$))");
  for (auto it = std::sregex_iterator(cmdline.begin(), cmdline.end(), part); it != std::sregex_iterator(); ++it) {
    vmm::v1::DeviceInfo device;
    device.set_mmio_size(MemParse((*it)[1]));
    device.set_mmio_address(std::stoull((*it)[2], nullptr, 0));
    device.set_irq(std::stoul((*it)[3]));
    devices.push_back(device);
  }
  return devices;
}

class LinuxDriveTest : public ::vmmd::testing::KernelTest {
 protected:
  void SetUp() override {
    ASSERT_FALSE(FindTool("mkfs.ext4").empty()) << "no mkfs.ext4: apt-get install e2fsprogs";
    ASSERT_FALSE(FindTool("debugfs").empty()) << "no debugfs: apt-get install e2fsprogs";
    KernelTest::SetUp();
  }

  static vmm::v1::Drive Drive(const std::string& id, const std::string& path, bool read_only,
                              bool root = false) {
    vmm::v1::Drive drive;
    drive.set_drive_id(id);
    drive.set_path(path);
    drive.set_read_only(read_only);
    drive.set_is_root_device(root);
    return drive;
  }

  grpc::Status CreateVm(const std::string& id, const std::vector<vmm::v1::Drive>& drives) {
    vmm::v1::CreateVmRequest request;
    request.set_vm_id(id);
    request.set_vcpu_count(1);
    request.set_memory_mib(32);
    for (const vmm::v1::Drive& drive : drives) *request.add_drives() = drive;
    grpc::ClientContext context;
    vmm::v1::Vm vm;
    return stub_->CreateVm(&context, request, &vm);
  }

  grpc::Status DeleteVm(const std::string& id) {
    vmm::v1::DeleteVmRequest request;
    request.set_vm_id(id);
    grpc::ClientContext context;
    vmm::v1::DeleteVmResponse response;
    return stub_->DeleteVm(&context, request, &response);
  }

  grpc::Status GetVm(const std::string& id) {
    vmm::v1::GetVmRequest request;
    request.set_vm_id(id);
    grpc::ClientContext context;
    vmm::v1::Vm vm;
    return stub_->GetVm(&context, request, &vm);
  }
};

TEST_F(LinuxDriveTest, GenericBzImageUsesBlockAndEntropyDevices) {
  ASSERT_TRUE(::vmmd::testing::ModulesFetched(cache_));
  // given.txt spans many requests (and blocks of the filesystem); neither size is a multiple
  // of a sector.
  const std::string given = RandomBytes(300 * 1024 + 7);
  const std::string second = RandomBytes(5000 + 3);
  const std::string root_image = daemon_->ImagePath("root.img");
  const std::string second_image = daemon_->ImagePath("second.img");
  ASSERT_TRUE(MakeExt4Image(root_image, {{"given.txt", given}}));
  ASSERT_TRUE(MakeExt4Image(second_image, {{"second.txt", second}}));
  const std::string second_before = ReadFile(second_image);
  ASSERT_EQ(second_before.size(), kImageBytes);

  const std::string initrd = daemon_->ImagePath("drive.cpio");
  const uint64_t sectors = kImageBytes / 512;
  // /expected: what /sys/block must say about each drive.
  const std::string expected = absl::StrFormat("drive vda root %d 0\ndrive vdb second %d 1\n", sectors, sectors);
  ASSERT_TRUE(WriteFile(initrd, GuestInitramfs(cache_, kInit, {{"expected", expected}})));

  vmm::v1::CreateVmRequest create;
  create.set_vcpu_count(1);
  create.set_memory_mib(256);
  *create.add_drives() = Drive("root", root_image, /*read_only=*/false, /*root=*/true);
  *create.add_drives() = Drive("second", second_image, /*read_only=*/true);
  create.set_entropy_device(true);
  vmm::v1::ConfigureBootRequest configure;
  configure.set_kernel_path(cache_ + "/vmlinuz-generic");
  configure.set_initrd_path(initrd);
  configure.set_cmdline(kKernelCmdline);
  configure.set_acpi("off");  // the devices on the command line (virtio_mmio_cmdline.ko)
  KernelRun run(stub_.get(), "drives", daemon_.get());
  const vmm::v1::BootInfo info = run.Boot(create, configure);
  ASSERT_FALSE(HasFailure()) << "the VM did not start";

  // BootInfo: the devices, and the command line that announces them.
  ASSERT_EQ(info.devices_size(), 3) << info.DebugString();
  const std::vector<std::pair<std::string, std::string>> expected_devices = {
      {"root", "virtio-blk"}, {"second", "virtio-blk"}, {"rng", "virtio-rng"}};
  for (int i = 0; i < 3; ++i) {
    const vmm::v1::DeviceInfo& device = info.devices(i);
    EXPECT_EQ(device.id(), expected_devices[i].first) << i;
    EXPECT_EQ(device.kind(), expected_devices[i].second) << i;
    EXPECT_GE(device.mmio_size(), 0x200u) << "virtio-mmio's registers take 0x200 bytes";
    for (int j = 0; j < i; ++j) {
      const vmm::v1::DeviceInfo& other = info.devices(j);
      EXPECT_NE(device.irq(), other.irq()) << "devices " << j << " and " << i;
      EXPECT_TRUE(device.mmio_address() + device.mmio_size() <= other.mmio_address() ||
                  other.mmio_address() + other.mmio_size() <= device.mmio_address())
          << "windows of devices " << j << " and " << i << " overlap";
    }
  }
  const std::vector<vmm::v1::DeviceInfo> announced = AnnouncedDevices(info.cmdline());
  ASSERT_EQ(announced.size(), 3u) << info.cmdline();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(announced[i].mmio_address(), info.devices(i).mmio_address()) << info.cmdline();
    EXPECT_EQ(announced[i].mmio_size(), info.devices(i).mmio_size()) << info.cmdline();
    EXPECT_EQ(announced[i].irq(), info.devices(i).irq()) << info.cmdline();
  }
  EXPECT_TRUE(absl::StartsWith(info.cmdline(), kKernelCmdline)) << info.cmdline();
  EXPECT_TRUE(std::regex_search(info.cmdline(), std::regex("(^| )root=/dev/vda rw( |$)"))) << info.cmdline();

  // The guest's own checks.
  const std::string console = run.WaitForStop(kBootBound);
  const std::string excerpt = console.size() > 8000 ? console.substr(console.size() - 8000) : console;
  ExpectInitChecks(console, "vmmd-drive", kGuestChecks);
  EXPECT_THAT(console, HasSubstr(absl::StrFormat("vmmd-drive: given %016x (%d bytes)", Fnv1a64(given), given.size())))
      << excerpt;
  EXPECT_THAT(console, HasSubstr(absl::StrFormat("vmmd-drive: second %016x (%d bytes)", Fnv1a64(second),
                                                 second.size())))
      << excerpt;
  std::smatch hwrng;
  const bool have_hwrng = std::regex_search(console, hwrng, std::regex("vmmd-drive: hwrng ([0-9a-f]{128})"));
  EXPECT_TRUE(have_hwrng) << excerpt;

  const vmm::v1::Vm vm = run.Get();
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(vm.exit_reason(), "guest reset");

  // What the devices counted.
  ASSERT_EQ(vm.devices_size(), 3) << vm.DebugString();
  const vmm::v1::DeviceCounters& root = vm.devices(0);
  const vmm::v1::DeviceCounters& second_drive = vm.devices(1);
  const vmm::v1::DeviceCounters& rng = vm.devices(2);
  EXPECT_EQ(root.id(), "root");
  EXPECT_EQ(second_drive.id(), "second");
  EXPECT_EQ(rng.id(), "rng");
  EXPECT_GT(root.requests(), 0u);
  EXPECT_GE(root.bytes_read(), given.size());
  EXPECT_GE(root.bytes_written(), ExpectedWrittenFile(std::string(128, '0')).size());
  EXPECT_GT(second_drive.requests(), 0u);
  EXPECT_GE(second_drive.bytes_read(), second.size());
  EXPECT_EQ(second_drive.bytes_written(), 0u) << "a read-only drive";
  EXPECT_GT(rng.requests(), 0u);
  EXPECT_GE(rng.bytes_read(), 64u);
  for (const vmm::v1::DeviceCounters& device : vm.devices()) {
    EXPECT_EQ(device.errors(), 0u) << device.DebugString();
    EXPECT_GT(device.notifications(), 0u) << device.DebugString();
    EXPECT_GT(device.interrupts(), 0u) << device.DebugString();
    EXPECT_EQ(device.refused_accesses(), 0u) << device.DebugString();
    EXPECT_EQ(device.needs_reset(), 0u) << device.DebugString();
  }
  std::cerr << "device counters:\n" << [&vm] {
    std::string text;
    for (const vmm::v1::DeviceCounters& device : vm.devices()) absl::StrAppend(&text, device.ShortDebugString(), "\n");
    return text;
  }();

  // The images, read on the host.
  if (have_hwrng) {
    EXPECT_EQ(DebugfsCat(root_image, "written.txt"), ExpectedWrittenFile(hwrng[1]));
  }
  EXPECT_TRUE(DebugfsCat(root_image, "given.txt") == given) << "given.txt changed in the root image";
  const std::vector<std::string> fsck = {FindTool("e2fsck"), "-f", "-n", root_image};
  const CommandResult checked = RunCommand(fsck);
  EXPECT_EQ(checked.exit_status, 0) << Describe(fsck, checked) << checked.out;
  const std::string second_after = ReadFile(second_image);
  EXPECT_TRUE(second_after == second_before)
      << absl::StrFormat("the read-only image changed: fnv1a64 %016x before, %016x after (%d bytes)",
                         Fnv1a64(second_before), Fnv1a64(second_after), second_after.size());
}

// An image attached read-write is its VM's alone while that VM exists; read-only attachments
// share. A refused CreateVm names the drive and leaves no VM and no lock behind.
TEST_F(LinuxDriveTest, ImageAttachedReadWriteIsExclusive) {
  const std::string shared = daemon_->ImagePath("shared.img");
  const std::string other = daemon_->ImagePath("other.img");
  ASSERT_TRUE(WriteFile(shared, std::string(1 << 20, '\0')));
  ASSERT_TRUE(WriteFile(other, std::string(1 << 20, '\0')));

  grpc::Status status = CreateVm("holder", {Drive("disk", shared, /*read_only=*/false)});
  ASSERT_TRUE(status.ok()) << status.error_message();

  for (bool read_only : {false, true}) {
    SCOPED_TRACE(read_only ? "read-only" : "read-write");
    status = CreateVm("rival", {Drive("disk", shared, read_only)});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("drives[0].path"));
    EXPECT_THAT(status.error_message(), HasSubstr(shared));
    EXPECT_EQ(GetVm("rival").error_code(), grpc::StatusCode::NOT_FOUND) << "a refused CreateVm left a VM";
  }

  // The conflict on the second drive: the first one's lock, taken before, is released.
  status = CreateVm("rival", {Drive("a", other, /*read_only=*/false), Drive("b", shared, /*read_only=*/true)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("drives[1].path"));
  status = CreateVm("other-user", {Drive("a", other, /*read_only=*/false)});
  EXPECT_TRUE(status.ok()) << "other.img still locked by a refused CreateVm: " << status.error_message();
  EXPECT_TRUE(DeleteVm("other-user").ok());

  status = DeleteVm("holder");
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = CreateVm("rival", {Drive("disk", shared, /*read_only=*/false)});
  EXPECT_TRUE(status.ok()) << "after DeleteVm of the holder: " << status.error_message();
  EXPECT_TRUE(DeleteVm("rival").ok());

  // Read-only attachments share the image, and keep a read-write one out.
  ASSERT_TRUE(CreateVm("reader-1", {Drive("disk", shared, /*read_only=*/true)}).ok());
  status = CreateVm("reader-2", {Drive("disk", shared, /*read_only=*/true)});
  EXPECT_TRUE(status.ok()) << status.error_message();
  status = CreateVm("writer", {Drive("disk", shared, /*read_only=*/false)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("drives[0].path"));
}

}  // namespace
}  // namespace vmmd
