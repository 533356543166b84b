// virtio-blk driven from inside test guests through the real vmmd binary (tag: requires-kvm).
//
// virtio_blk_guest is a driver of its own (tests/guest/virtio_mmio_driver.h): it finds the
// device through the virtio_mmio.device= entry vmmd appends to its command line, negotiates
// VIRTIO_F_VERSION_1, sets up a queue in its RAM and polls the used ring; it reports on COM1
// and exits with its number of failed checks. The test checks what it printed against what the
// test put in the image and against BootInfo, what it left in the image file, and the
// device counters GetVm reports, for a read-write and a read-only drive.
//
// virtio_hostile_guest abuses a read-only drive (looping chains, buffers outside RAM, a
// runaway avail idx, wrong-width registers, Status out of order, ...) and checks from the
// inside that each is contained; meanwhile an idle guest runs in another VM, which must not
// notice, and the daemon must go on serving.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "tests/guest/virtio_blk_protocol.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::vmmd::testing::BootGuest;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;
using ::vmmd::testing::GetVmOrFail;
using ::vmmd::testing::ReadConsole;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kBlkGuest[] = "tests/guest/virtio_blk_guest.elf";
constexpr char kHostileGuest[] = "tests/guest/virtio_hostile_guest.elf";
constexpr char kIdleGuest[] = "tests/guest/idle_guest.elf";

constexpr uint64_t kSector = VIRTIO_BLK_GUEST_SECTOR_BYTES;
constexpr uint64_t kImageBytes = uint64_t{1} << 20;  // 2048 sectors
// Guests print a few kilobytes one port exit at a time; the test VM (QEMU TCG) is slow at it.
constexpr auto kConsoleDeadline = std::chrono::seconds(180);

std::string Line(const std::string& text) {
  return absl::StrCat(VIRTIO_BLK_GUEST_PREFIX, text, "\r\n");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class VirtioGuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(kDaemon, {kBlkGuest, kHostileGuest, kIdleGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  // A kImageBytes image in the image root: sector 0 random (the seed is logged with any
  // failure), the rest zeros. Returns its contents.
  std::string WriteImage(const std::string& file_name) {
    const uint32_t seed = std::random_device()();
    RecordProperty("image_seed", static_cast<int>(seed));
    std::cerr << file_name << ": sector 0 from seed " << seed << "\n";
    std::mt19937 random(seed);
    std::string image(kImageBytes, '\0');
    for (uint64_t i = 0; i < kSector; ++i) image[i] = static_cast<char>(random() & 0xff);
    std::ofstream out(daemon_->ImagePath(file_name), std::ios::binary | std::ios::trunc);
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
    out.close();
    EXPECT_TRUE(out.good()) << "writing " << daemon_->ImagePath(file_name);
    return image;
  }

  // CreateVm (one vCPU, 32 MiB) with one drive -> ConfigureBoot(`guest`, empty command line:
  // the guest finds the device in the DSDT, or with acpi_ "off" in vmmd's command-line entry)
  // -> StartVcpus.
  grpc::Status BootWithDrive(const std::string& vm_id, const std::string& guest,
                             const std::string& image_file, bool read_only,
                             vmm::v1::BootInfo* boot_info) {
    vmm::v1::CreateVmRequest create;
    create.set_vm_id(vm_id);
    create.set_vcpu_count(1);
    create.set_memory_mib(32);
    vmm::v1::Drive* drive = create.add_drives();
    drive->set_drive_id(kDriveId);
    drive->set_path(daemon_->ImagePath(image_file));
    drive->set_read_only(read_only);
    vmm::v1::Vm vm;
    grpc::Status status = stub_->CreateVm(Context().get(), create, &vm);
    if (!status.ok()) return status;
    vmm::v1::ConfigureBootRequest configure;
    configure.set_vm_id(vm_id);
    configure.set_kernel_path(daemon_->ImagePath(guest));
    configure.set_acpi(acpi_);
    status = stub_->ConfigureBoot(Context().get(), configure, boot_info);
    if (!status.ok()) return status;
    vmm::v1::StartVcpusRequest start;
    start.set_vm_id(vm_id);
    return stub_->StartVcpus(Context().get(), start, &vm);
  }

  // StreamConsole(follow) until the VM stops (bounded): everything the guest printed.
  std::string FollowConsole(const std::string& vm_id) {
    return ReadConsole(*stub_, vm_id, true, kConsoleDeadline);
  }

  vmm::v1::Vm GetVm(const std::string& vm_id) { return GetVmOrFail(*stub_, vm_id); }

  // Boots virtio_blk_guest on `image_file` and checks what every run must show: the device
  // where BootInfo says, the capacity, sector 0's checksum, the id, no failed check, exit
  // code 0. Returns the stopped VM.
  vmm::v1::Vm RunBlkGuest(const std::string& vm_id, const std::string& image_file,
                          const std::string& image, bool read_only, std::string* console_out) {
    vmm::v1::BootInfo info;
    const grpc::Status booted = BootWithDrive(vm_id, "virtio_blk_guest.elf", image_file,
                                              read_only, &info);
    EXPECT_TRUE(booted.ok()) << booted.error_message();
    if (!booted.ok()) return vmm::v1::Vm();
    const std::string console = FollowConsole(vm_id);
    *console_out = console;

    EXPECT_EQ(info.devices_size(), 1);
    EXPECT_EQ(info.acpi_tables_size(), acpi_ == "off" ? 0 : 5);
    EXPECT_EQ(absl::StrContains(info.cmdline(), "virtio_mmio.device="), acpi_ == "off");
    if (info.devices_size() == 1) {
      EXPECT_EQ(info.devices(0).kind(), "virtio-blk");
      EXPECT_THAT(console, HasSubstr(Line(absl::StrFormat("device at 0x%016x irq %d",
                                                          info.devices(0).mmio_address(),
                                                          info.devices(0).irq()))));
    }
    EXPECT_THAT(console, HasSubstr(Line(absl::StrCat("capacity ", kImageBytes / kSector,
                                                     " sectors"))));
    const unsigned checksum = virtio_blk_guest_checksum(
        reinterpret_cast<const unsigned char*>(image.data()), kSector);
    EXPECT_THAT(console, HasSubstr(Line(absl::StrFormat("sector 0 checksum 0x%08x", checksum))));
    EXPECT_THAT(console, HasSubstr(Line(absl::StrCat("id ", kDriveId))));
    EXPECT_THAT(console, Not(HasSubstr("FAIL")));
    EXPECT_THAT(console, HasSubstr(Line("0 checks failed")));

    const vmm::v1::Vm vm = GetVm(vm_id);
    EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_STOPPED);
    EXPECT_EQ(vm.exit_reason(), "guest exit code 0") << console;
    EXPECT_EQ(vm.devices_size(), 1);
    return vm;
  }

  static constexpr char kDriveId[] = "disk0";
  std::string acpi_;  // ConfigureBootRequest.acpi
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(VirtioGuestTest, GuestDriverReadsWritesFlushesAndIdentifiesAReadWriteDrive) {
  const std::string original = WriteImage("rw.img");
  std::string console;
  const vmm::v1::Vm vm = RunBlkGuest("blk-rw", "rw.img", original, false, &console);
  EXPECT_THAT(console, Not(HasSubstr("read-only")));

  // The pattern in its sector, every other byte as the test wrote it.
  std::string expected = original;
  for (uint64_t i = 0; i < kSector; ++i) {
    expected[VIRTIO_BLK_GUEST_PATTERN_SECTOR * kSector + i] =
        static_cast<char>(VIRTIO_BLK_GUEST_PATTERN(i));
  }
  const std::string after = ReadFile(daemon_->ImagePath("rw.img"));
  ASSERT_EQ(after.size(), kImageBytes);
  const uint64_t pattern_offset = VIRTIO_BLK_GUEST_PATTERN_SECTOR * kSector;
  EXPECT_TRUE(after.compare(pattern_offset, kSector, expected, pattern_offset, kSector) == 0)
      << "the pattern sector does not hold the guest's pattern";
  EXPECT_TRUE(after.compare(0, pattern_offset, expected, 0, pattern_offset) == 0 &&
              after.compare(pattern_offset + kSector, std::string::npos, expected,
                            pattern_offset + kSector, std::string::npos) == 0)
      << "bytes outside the pattern sector changed";

  ASSERT_EQ(vm.devices_size(), 1);
  const vmm::v1::DeviceCounters& counters = vm.devices(0);
  EXPECT_EQ(counters.id(), kDriveId);
  EXPECT_EQ(counters.requests(), VIRTIO_BLK_GUEST_REQUESTS);
  EXPECT_EQ(counters.bytes_read(), VIRTIO_BLK_GUEST_SECTORS_READ * kSector);
  EXPECT_EQ(counters.bytes_written(), kSector);
  EXPECT_EQ(counters.errors(), 1u) << "the read past the end, and nothing else";
  EXPECT_GT(counters.notifications(), 0u);
  // A driver that keeps to the spec trips nothing.
  EXPECT_EQ(counters.refused_accesses(), 0u);
  EXPECT_EQ(counters.needs_reset(), 0u);
}

// The read-write case finds its drive in the DSDT (ACPI, the default); this one on the
// command line.
TEST_F(VirtioGuestTest, GuestDriverFindsAReadOnlyDriveRefusesWrites) {
  acpi_ = "off";
  const std::string original = WriteImage("ro.img");
  std::string console;
  const vmm::v1::Vm vm = RunBlkGuest("blk-ro", "ro.img", original, true, &console);
  EXPECT_THAT(console, HasSubstr(Line("read-only")));

  EXPECT_TRUE(ReadFile(daemon_->ImagePath("ro.img")) == original) << "the image changed";

  ASSERT_EQ(vm.devices_size(), 1);
  const vmm::v1::DeviceCounters& counters = vm.devices(0);
  EXPECT_EQ(counters.requests(), VIRTIO_BLK_GUEST_REQUESTS);
  EXPECT_EQ(counters.bytes_read(), VIRTIO_BLK_GUEST_SECTORS_READ * kSector);
  EXPECT_EQ(counters.bytes_written(), 0u);
  EXPECT_EQ(counters.errors(), 2u) << "the refused write and the read past the end";
  EXPECT_EQ(counters.refused_accesses(), 0u);
  EXPECT_EQ(counters.needs_reset(), 0u);
}

TEST_F(VirtioGuestTest, HostileGuestIsContainedAndItsNeighbourRunsOn) {
  // The neighbour: prints one line, then halts, RUNNING until deleted.
  const std::string kIdleLine = "idle guest ready\r\n";  // tests/guest/idle_guest.c
  const grpc::Status idle_booted = BootGuest(*stub_, *daemon_, "neighbour", "idle_guest.elf");
  ASSERT_TRUE(idle_booted.ok()) << idle_booted.error_message();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  vmm::v1::Vm neighbour;
  while (neighbour.console_bytes() < kIdleLine.size() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    neighbour = GetVm("neighbour");
  }
  ASSERT_EQ(neighbour.console_bytes(), kIdleLine.size());

  const std::string original = WriteImage("hostile.img");
  vmm::v1::BootInfo info;
  const grpc::Status booted =
      BootWithDrive("hostile", "virtio_hostile_guest.elf", "hostile.img", true, &info);
  ASSERT_TRUE(booted.ok()) << booted.error_message();
  const std::string console = FollowConsole("hostile");
  EXPECT_THAT(console, Not(HasSubstr("UNEXPECTED")));
  EXPECT_THAT(console, HasSubstr("virtio hostile guest: 0 unexpected observations\r\n"));

  const vmm::v1::Vm hostile = GetVm("hostile");
  EXPECT_EQ(hostile.state(), vmm::v1::VM_STATE_STOPPED);
  EXPECT_EQ(hostile.exit_reason(), "guest exit code 0") << console;
  ASSERT_EQ(hostile.devices_size(), 1);
  const vmm::v1::DeviceCounters& counters = hostile.devices(0);
  // The looping chain, the buffer outside RAM, the runaway avail idx, the head past the
  // queue size: each breaks the ring once.
  EXPECT_EQ(counters.needs_reset(), 4u);
  EXPECT_GT(counters.refused_accesses(), 0u);
  EXPECT_EQ(counters.errors(), 1u) << "the write to the read-only drive";
  EXPECT_EQ(counters.bytes_written(), 0u);
  EXPECT_TRUE(ReadFile(daemon_->ImagePath("hostile.img")) == original) << "the image changed";

  // The neighbour noticed nothing, and the daemon still answers.
  neighbour = GetVm("neighbour");
  EXPECT_EQ(neighbour.state(), vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(neighbour.exit_reason(), "");
  EXPECT_EQ(neighbour.console_bytes(), kIdleLine.size());
  vmm::v1::ListVmsResponse list;
  ASSERT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list).ok());
  EXPECT_EQ(list.vms_size(), 2);
  vmm::v1::DeleteVmRequest remove;
  vmm::v1::DeleteVmResponse removed;
  for (const char* vm_id : {"neighbour", "hostile"}) {
    remove.set_vm_id(vm_id);
    const grpc::Status deleted = stub_->DeleteVm(Context().get(), remove, &removed);
    EXPECT_TRUE(deleted.ok()) << vm_id << ": " << deleted.error_message();
  }
}

}  // namespace
}  // namespace vmmd
