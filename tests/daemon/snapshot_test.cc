// Snapshots through the real vmmd binary (tag: requires-kvm): a counting guest is paused,
// saved with SnapshotVm and deleted; RestoreVm brings it back, and it goes on from its count
// with its TSC and RAM intact; two clones of one snapshot run at once; snapshots that are
// truncated, corrupt, of another version or for another CPU are refused, leaving nothing.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_util.h"
#include "snapshot/state_file.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::BootGuest;
using ::vmmd::testing::Context;
using ::vmmd::testing::DaemonProcess;
using ::vmmd::testing::ReadConsole;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kCounterGuest[] = "tests/guest/counter_guest.elf";
constexpr char kGuestFile[] = "counter_guest.elf";
constexpr uint64_t kMemoryMib = 64;

struct Tick {
  uint64_t count = 0;
  uint64_t tsc = 0;
};

// The complete "tick K tsc T" lines of `console`, in order.
std::vector<Tick> Ticks(const std::string& console) {
  std::vector<Tick> ticks;
  std::vector<std::string> lines = absl::StrSplit(console, "\r\n");
  lines.pop_back();  // the last piece is unfinished (or empty)
  for (const std::string& line : lines) {
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    Tick tick;
    if (words.size() == 4 && words[0] == "tick" && words[2] == "tsc" &&
        absl::SimpleAtoi(words[1], &tick.count) && absl::SimpleAtoi(words[3], &tick.tsc)) {
      ticks.push_back(tick);
    }
  }
  return ticks;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream data;
  data << in.rdbuf();
  return data.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    std::string pattern = std::string(getenv("TEST_TMPDIR")) + "/snapshotsXXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    snapshot_root_ = pattern;
    // Short: "<uds_path>_<port>" must fit a Unix socket address (TEST_TMPDIR is too deep).
    char vsock_root[] = "/tmp/vsnap.XXXXXX";
    ASSERT_NE(mkdtemp(vsock_root), nullptr);
    vsock_root_ = vsock_root;
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(
        kDaemon, {kCounterGuest}, {"--snapshot_root=" + snapshot_root_, "--vsock_root=" + vsock_root_});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
    daemon_.reset();
    if (!vsock_root_.empty()) rmdir(vsock_root_.c_str());
  }

  // The VM's ticks once it has printed at least `count` more than `after`, polling its
  // console (bounded: a guest that stops counting fails the test).
  std::vector<Tick> AwaitTicks(const std::string& vm_id, size_t count) {
    std::vector<Tick> ticks;
    for (int i = 0; i < 600 && ticks.size() < count; ++i) {
      ticks = Ticks(ReadConsole(*stub_, vm_id, false, std::chrono::seconds(10)));
      if (ticks.size() < count) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_GE(ticks.size(), count) << vm_id << " stopped counting";
    return ticks;
  }

  grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    return call(Context().get());
  }

  grpc::Status Pause(const std::string& vm_id) {
    vmm::v1::PauseVmRequest request;
    request.set_vm_id(vm_id);
    vmm::v1::Vm vm;
    return stub_->PauseVm(Context().get(), request, &vm);
  }

  grpc::Status Delete(const std::string& vm_id) {
    vmm::v1::DeleteVmRequest request;
    request.set_vm_id(vm_id);
    vmm::v1::DeleteVmResponse response;
    return stub_->DeleteVm(Context().get(), request, &response);
  }

  grpc::Status Snapshot(const std::string& vm_id, const std::string& dir,
                        vmm::v1::SnapshotInfo* info) {
    vmm::v1::SnapshotVmRequest request;
    request.set_vm_id(vm_id);
    request.set_snapshot_dir(dir);
    return stub_->SnapshotVm(Context().get(), request, info);
  }

  grpc::Status Restore(const vmm::v1::RestoreVmRequest& request, vmm::v1::Vm* vm) {
    return stub_->RestoreVm(Context().get(), request, vm);
  }

  grpc::Status Restore(const std::string& vm_id, const std::string& dir, bool resume,
                       vmm::v1::Vm* vm) {
    vmm::v1::RestoreVmRequest request;
    request.set_vm_id(vm_id);
    request.set_snapshot_dir(dir);
    request.set_resume(resume);
    return Restore(request, vm);
  }

  size_t VmCount() {
    vmm::v1::ListVmsResponse list;
    EXPECT_TRUE(stub_->ListVms(Context().get(), vmm::v1::ListVmsRequest(), &list).ok());
    return static_cast<size_t>(list.vms_size());
  }

  // Boots the counter guest as `vm_id`, lets it count, pauses it and saves it in `dir`;
  // returns its ticks as of the pause.
  std::vector<Tick> CountAndSnapshot(const std::string& vm_id, const std::string& dir,
                                     uint32_t vcpus, vmm::v1::SnapshotInfo* info) {
    EXPECT_TRUE(BootGuest(*stub_, *daemon_, vm_id, kGuestFile, "console=ttyS0", vcpus, kMemoryMib).ok());
    AwaitTicks(vm_id, 3);
    EXPECT_TRUE(Pause(vm_id).ok());
    std::vector<Tick> ticks = Ticks(ReadConsole(*stub_, vm_id, false, std::chrono::seconds(10)));
    const grpc::Status saved = Snapshot(vm_id, dir, info);
    EXPECT_TRUE(saved.ok()) << saved.error_message();
    return ticks;
  }

  std::string snapshot_root_;
  std::string vsock_root_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(SnapshotTest, ARestoredGuestGoesOnFromItsCountAndClonesRunAtOnce) {
  const std::string dir = snapshot_root_ + "/counter";
  vmm::v1::SnapshotInfo info;
  const std::vector<Tick> before = CountAndSnapshot("original", dir, 2, &info);
  ASSERT_GE(before.size(), 3u);
  const Tick last = before.back();

  ASSERT_EQ(info.files_size(), 2);
  EXPECT_EQ(info.files(0).path(), dir + "/state");
  EXPECT_GT(info.files(0).size_bytes(), 0u);
  EXPECT_EQ(info.files(1).path(), dir + "/memory");
  EXPECT_EQ(info.files(1).size_bytes(), kMemoryMib << 20);
  // Sparse: the guest touched little of its 64 MiB.
  EXPECT_LT(info.files(1).allocated_bytes(), info.files(1).size_bytes() / 4);
  EXPECT_EQ(info.format_version(), snapshot::kFormatVersion);
  EXPECT_GT(info.duration_micros(), 0u);
  vmm::v1::Vm original;
  vmm::v1::GetVmRequest get;
  get.set_vm_id("original");
  ASSERT_TRUE(stub_->GetVm(Context().get(), get, &original).ok());
  EXPECT_EQ(original.state(), vmm::v1::VM_STATE_PAUSED);  // a snapshot leaves it paused
  ASSERT_TRUE(Delete("original").ok());

  vmm::v1::Vm restored;
  grpc::Status status = Restore("restored", dir, /*resume=*/true, &restored);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(restored.state(), vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(restored.vcpu_count(), 2u);
  EXPECT_EQ(restored.memory_mib(), kMemoryMib);
  EXPECT_EQ(restored.boot_info().cmdline(), original.boot_info().cmdline());
  EXPECT_EQ(restored.boot_info().entry_point(), original.boot_info().entry_point());

  // A clone of the same snapshot beside it, PAUSED until resumed.
  vmm::v1::Vm clone;
  status = Restore("clone", dir, /*resume=*/false, &clone);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(clone.state(), vmm::v1::VM_STATE_PAUSED);
  vmm::v1::ResumeVmRequest resume;
  resume.set_vm_id("clone");
  ASSERT_TRUE(stub_->ResumeVm(Context().get(), resume, &clone).ok());

  for (const std::string vm_id : {"restored", "clone"}) {
    const std::string console = ReadConsole(*stub_, vm_id, false, std::chrono::seconds(10));
    const std::vector<Tick> after = AwaitTicks(vm_id, 3);
    ASSERT_GE(after.size(), 3u);
    // It did not boot again: no banner, and the count goes on from the paused one (the tick
    // being printed at the pause may be the first whole line).
    const std::string full = ReadConsole(*stub_, vm_id, false, std::chrono::seconds(10));
    EXPECT_THAT(full, ::testing::Not(HasSubstr("vmmd counter guest"))) << vm_id;
    EXPECT_THAT(full, ::testing::Not(HasSubstr("memory lost"))) << vm_id << ": " << full;
    EXPECT_GE(after[0].count, last.count + 1) << vm_id;
    EXPECT_LE(after[0].count, last.count + 2) << vm_id;
    for (size_t i = 0; i < after.size(); ++i) {
      if (i > 0) {
        EXPECT_EQ(after[i].count, after[i - 1].count + 1) << vm_id;
      }
      // The guest's clock went on from where it was: never backwards.
      EXPECT_GT(after[i].tsc, last.tsc) << vm_id << " tick " << after[i].count;
    }
  }
  ASSERT_TRUE(Delete("restored").ok());
  ASSERT_TRUE(Delete("clone").ok());
}

// A clone of a VM that still exists needs devices of its own: without overrides its drive
// (attached read-write) is refused; with them it gets its own image, vsock socket and CID,
// and keeps the snapshot's other devices.
TEST_F(SnapshotTest, AClonesDevicesAreItsOwn) {
  const std::string image = daemon_->image_root() + "/disk.img";
  WriteFile(image, std::string(1 << 20, '\0'));
  vmm::v1::CreateVmRequest create;
  create.set_vm_id("source");
  create.set_vcpu_count(1);
  create.set_memory_mib(kMemoryMib);
  vmm::v1::Drive* drive = create.add_drives();
  drive->set_drive_id("data");
  drive->set_path(image);
  create.set_entropy_device(true);
  create.mutable_vsock()->set_guest_cid(5);
  create.mutable_vsock()->set_uds_path(vsock_root_ + "/s.sock");
  vmm::v1::Vm vm;
  ASSERT_TRUE(stub_->CreateVm(Context().get(), create, &vm).ok());
  vmm::v1::ConfigureBootRequest configure;
  configure.set_vm_id("source");
  configure.set_kernel_path(daemon_->ImagePath(kGuestFile));
  configure.set_cmdline("console=ttyS0");
  vmm::v1::BootInfo info;
  ASSERT_TRUE(stub_->ConfigureBoot(Context().get(), configure, &info).ok());
  vmm::v1::StartVcpusRequest start;
  start.set_vm_id("source");
  ASSERT_TRUE(stub_->StartVcpus(Context().get(), start, &vm).ok());
  const Tick last = AwaitTicks("source", 2).back();
  ASSERT_TRUE(Pause("source").ok());
  const std::string dir = snapshot_root_ + "/devices";
  vmm::v1::SnapshotInfo saved;
  ASSERT_TRUE(Snapshot("source", dir, &saved).ok());

  grpc::Status status = Restore("clash", dir, true, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("drives[0].path"));
  EXPECT_EQ(VmCount(), 1u);

  const std::string copy = daemon_->image_root() + "/clone.img";
  WriteFile(copy, ReadFile(image));
  vmm::v1::RestoreVmRequest request;
  request.set_vm_id("clone");
  request.set_snapshot_dir(dir);
  request.set_resume(true);
  vmm::v1::DriveOverride* drive_override = request.add_drive_overrides();
  drive_override->set_drive_id("data");
  drive_override->set_path(copy);
  request.mutable_vsock_override()->set_uds_path(vsock_root_ + "/c.sock");
  request.mutable_vsock_override()->set_guest_cid(7);
  status = Restore(request, &vm);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(vm.drives_size(), 1);
  EXPECT_EQ(vm.drives(0).path(), copy);
  EXPECT_TRUE(vm.entropy_device());
  EXPECT_EQ(vm.vsock().guest_cid(), 7u);
  EXPECT_EQ(vm.vsock().uds_path(), vsock_root_ + "/c.sock");
  struct stat socket_info;
  EXPECT_EQ(stat((vsock_root_ + "/c.sock").c_str(), &socket_info), 0);
  EXPECT_EQ(vm.boot_info().devices_size(), info.devices_size());
  const std::vector<Tick> after = AwaitTicks("clone", 2);
  ASSERT_FALSE(after.empty());
  EXPECT_GT(after[0].count, last.count);
  ASSERT_TRUE(Delete("clone").ok());
  EXPECT_NE(stat((vsock_root_ + "/c.sock").c_str(), &socket_info), 0);  // gone with the VM
  ASSERT_TRUE(Delete("source").ok());
}

TEST_F(SnapshotTest, OnlyAPausedVmUnderTheRootIsSaved) {
  ASSERT_TRUE(BootGuest(*stub_, *daemon_, "running", kGuestFile, "console=ttyS0", 1, kMemoryMib).ok());
  vmm::v1::SnapshotInfo info;
  grpc::Status status = Snapshot("running", snapshot_root_ + "/a", &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("RUNNING"));
  ASSERT_TRUE(Pause("running").ok());
  status = Snapshot("running", "/tmp/elsewhere", &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("snapshot_dir"));
  status = Snapshot("nobody", snapshot_root_ + "/a", &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  vmm::v1::Vm vm;
  status = Restore("x", snapshot_root_ + "/missing", true, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

// Each way a snapshot can be wrong, refused with the code and the part named, and nothing
// left behind: no VM, no fd.
TEST_F(SnapshotTest, BrokenSnapshotsAreRefusedAndLeaveNothing) {
  const std::string good = snapshot_root_ + "/good";
  vmm::v1::SnapshotInfo info;
  CountAndSnapshot("source", good, 1, &info);
  ASSERT_TRUE(Delete("source").ok());
  // A good restore first: the daemon's fds settle after it (gRPC's own), and they are the
  // baseline the refusals must keep.
  vmm::v1::Vm vm;
  ASSERT_TRUE(Restore("warm-up", good, false, &vm).ok());
  ASSERT_TRUE(Delete("warm-up").ok());
  const int fds_before = daemon_->OpenFdCount();

  const std::string state = ReadFile(good + "/state");
  const std::string memory = ReadFile(good + "/memory");
  absl::StatusOr<snapshot::v1::MachineState> decoded = snapshot::DecodeStateFile(state);
  ASSERT_TRUE(decoded.ok()) << decoded.status();

  struct Case {
    std::string name;
    std::function<void(std::string& state, std::string& memory)> breaks;
    grpc::StatusCode code;
    std::string names;
  };
  auto edit = [&](std::function<void(snapshot::v1::MachineState&)> change) {
    return [&decoded, change](std::string& state, std::string&) {
      snapshot::v1::MachineState copy = *decoded;
      change(copy);
      state = snapshot::EncodeStateFile(copy);
    };
  };
  const std::vector<Case> cases = {
      {"truncated state", [](std::string& s, std::string&) { s.resize(s.size() - 10); },
       grpc::StatusCode::INVALID_ARGUMENT, "truncated"},
      {"flipped byte", [](std::string& s, std::string&) { s[s.size() / 2] ^= 0x40; },
       grpc::StatusCode::INVALID_ARGUMENT, "checksum"},
      {"not a snapshot", [](std::string& s, std::string&) { s[0] = 'X'; },
       grpc::StatusCode::INVALID_ARGUMENT, "not a vmmd snapshot"},
      {"another version", [](std::string& s, std::string&) { s[8] = 99; },
       grpc::StatusCode::FAILED_PRECONDITION, "version"},
      {"empty state", [](std::string& s, std::string&) { s.clear(); },
       grpc::StatusCode::INVALID_ARGUMENT, "state"},
      {"truncated memory", [](std::string&, std::string& m) { m.resize(m.size() / 2); },
       grpc::StatusCode::INVALID_ARGUMENT, "memory"},
      {"vcpu registers", edit([](auto& s) { s.mutable_vcpus(0)->set_regs("short"); }),
       grpc::StatusCode::INVALID_ARGUMENT, "vcpus[0].regs"},
      {"a vcpu missing", edit([](auto& s) { s.mutable_vcpus()->RemoveLast(); }),
       grpc::StatusCode::INVALID_ARGUMENT, "vCPUs"},
      {"memory size", edit([](auto& s) { s.mutable_memory()->set_size(1 << 20); }),
       grpc::StatusCode::INVALID_ARGUMENT, "memory"},
      {"spec memory", edit([](auto& s) { s.mutable_spec()->set_memory_mib(32); }),
       grpc::StatusCode::INVALID_ARGUMENT, "memory"},
      {"serial register", edit([](auto& s) { s.mutable_serial()->set_lcr(256); }),
       grpc::StatusCode::INVALID_ARGUMENT, "serial.lcr"},
      {"irqchip", edit([](auto& s) { s.mutable_vm()->set_ioapic("x"); }),
       grpc::StatusCode::INVALID_ARGUMENT, "vm.ioapic"},
      {"devices", edit([](auto& s) { s.add_virtio_devices()->set_kind("virtio-blk"); }),
       grpc::StatusCode::INVALID_ARGUMENT, "virtio_devices"},
      {"boot protocol", edit([](auto& s) { s.mutable_spec()->mutable_boot()->set_protocol("x"); }),
       grpc::StatusCode::INVALID_ARGUMENT, "spec.boot.protocol"},
      {"a CPU this host is not",
       edit([](auto& s) {
         // Every feature bit of leaf 7: no host has them all.
         std::string cpuid = s.vcpus(0).cpuid();
         for (size_t at = 0; at + sizeof(kvm_cpuid_entry2) <= cpuid.size(); at += sizeof(kvm_cpuid_entry2)) {
           auto* entry = reinterpret_cast<kvm_cpuid_entry2*>(cpuid.data() + at);
           if (entry->function == 7 && entry->index == 0) entry->ebx = 0xffffffff;
         }
         s.mutable_vcpus(0)->set_cpuid(cpuid);
       }),
       grpc::StatusCode::FAILED_PRECONDITION, "leaf 0x7.0 EBX"},
  };
  int index = 0;
  for (const Case& c : cases) {
    const std::string dir = absl::StrCat(snapshot_root_, "/broken", index++);
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    std::string broken_state = state;
    std::string broken_memory = memory;
    c.breaks(broken_state, broken_memory);
    WriteFile(dir + "/state", broken_state);
    WriteFile(dir + "/memory", broken_memory);
    const grpc::Status status = Restore(absl::StrCat("broken", index), dir, true, &vm);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.names)) << c.name;
    EXPECT_EQ(VmCount(), 0u) << c.name;
  }
  // An override that names nothing of the snapshot.
  vmm::v1::RestoreVmRequest request;
  request.set_vm_id("override");
  request.set_snapshot_dir(good);
  request.add_drive_overrides()->set_drive_id("nope");
  grpc::Status status = Restore(request, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("drive_overrides"));
  EXPECT_EQ(::vmmd::testing::WaitForValue(fds_before, absl::Seconds(30),
                                          [&] { return daemon_->OpenFdCount(); }),
            fds_before)
      << daemon_->OpenFdTargets();
  // And the good one still restores.
  ASSERT_TRUE(Restore("after", good, true, &vm).ok());
  AwaitTicks("after", 2);
}

}  // namespace
}  // namespace vmmd
