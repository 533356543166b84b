// SnapshotVm and RestoreVm (issue 13) with a real Linux guest, through the real vmmd binary
// (tag: requires-kvm). The guest is Debian's generic bzImage with an initramfs whose /init is
// snapshot_init (a static program built by Bazel; see snapshot_init.c) and the modules
// tests/linux/fetch_kernels.sh keeps: it counts forever, each step K writing record K to
// sector K of a raw 4 MiB drive with O_DIRECT, then printing "count K clock NS" (its
// CLOCK_MONOTONIC), then sleeping 100 ms; and it answers vsock connections with its CID and
// count. Checked:
//   original  it boots, counts to 5 and answers on vsock as CID 3; PauseVm stops it at count
//             N (its console's last whole line, at clock C); SnapshotVm saves it under
//             --snapshot_root (a state file, a sparse memory file holding less than the
//             guest's memory); DeleteVm; its drive then holds records 1..N (N+1 at most
//             beyond them) and nothing else;
//   restored  RestoreVm (resume) with a drive override naming a copy of that drive and its
//             own vsock socket: RUNNING at once, its console going on from the count, never
//             from the start (no second "ready"): the line the snapshot caught mid-print
//             (or else the next) is whole again across the two consoles and is count N+1,
//             each line after it the next count, the clock above C and each line at least
//             the 100 ms sleep after the one before, across the restore too; it answers on
//             its new socket as CID 3; paused at count M and deleted, its drive copy holds
//             records 1..M, in order, each with its count and checksum right: the drive is
//             consistent across the snapshot;
//   clones    ten restored at once from the same snapshot, each with its own drive copy, its
//             own vsock socket and its own CID (100..109): each goes on from N+1 as above,
//             answers on its own socket with its own CID (the guest read it again after the
//             transport reset), and leaves its own drive consistent; the snapshot's drive is
//             byte for byte as the original left it (no clone wrote to it);
//   memory    the daemon's RSS grows less per clone than half of what booting the original
//             cost it (the guest memory mapped copy-on-write from the memory file: a clone
//             costs the pages it touches after the restore), and its PSS less than half its
//             RSS (the clones share the file's pages they map).
// The figures (RSS before and after, per clone, PSS, the snapshot's size and times) are
// printed and kept as test properties, to be quoted.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/daemon/boot_client.h"
#include "tests/daemon/memory_bounds.h"
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
using ::testing::Not;
using ::vmmd::testing::Context;
using ::vmmd::testing::Fnv1a64;
using ::vmmd::testing::GuestInitramfs;
using ::vmmd::testing::kBootBound;
using ::vmmd::testing::kKernelCmdline;
using ::vmmd::testing::KernelRun;
using ::vmmd::testing::ReadFile;
using ::vmmd::testing::TempDir;
using ::vmmd::testing::WriteFile;

constexpr char kInit[] = "tests/linux/snapshot_init";
// Enough that a freshly booted guest has touched tens of MiB of it (the kernel, the
// initramfs and its modules, the page cache) and that a clone touching all of it again would
// show in the daemon's RSS.
constexpr uint64_t kMemoryMib = 128;
constexpr uint64_t kDriveBytes = uint64_t{4} << 20;  // 8191 records: 13 minutes of counting
constexpr char kDriveId[] = "counts";
constexpr uint32_t kGuestCid = 3;
constexpr uint32_t kFirstCloneCid = 100;
constexpr uint32_t kVsockPort = 5000;  // snapshot_init.c's VSOCK_PORT
constexpr int kClones = 10;
// snapshot_init.c's record: 504 bytes hashed, then the hash.
constexpr size_t kRecordBytes = 512;
constexpr size_t kRecordHashed = 504;
// The counts the original makes before its snapshot, and each restored VM after its restore:
// enough steps that every part of the loop (write, print, vsock, sleep) has run a few times.
constexpr uint64_t kCountsBeforeSnapshot = 5;
constexpr size_t kCountsAfterRestore = 5;
// How long restored VMs (which do not boot) may take to print kCountsAfterRestore lines: a
// hang guard. In the test VM (nested KVM under TCG) ten clones share one core.
constexpr absl::Duration kCountBound = absl::Minutes(5);
constexpr absl::Duration kVsockBound = absl::Minutes(1);
// How long the test polls the original's console for a moment mid-line to pause it at.
constexpr absl::Duration kMidLineBound = absl::Seconds(30);

// snapshot_init.c's record K: "snapshot-init record K\n", bytes (K + i) & 0xff up to 504,
// then the FNV-1a 64-bit hash of those 504 bytes, little-endian.
std::string ExpectedRecord(uint64_t k) {
  std::string record = absl::StrCat("snapshot-init record ", k, "\n");
  for (size_t i = record.size(); i < kRecordHashed; ++i) record += static_cast<char>(k + i);
  const uint64_t hash = Fnv1a64(record);
  for (int i = 0; i < 8; ++i) record += static_cast<char>(hash >> (8 * i));
  return record;
}

// What a sector holds, for failure messages: its text line and whether its hash is right.
std::string DescribeRecord(const std::string& record) {
  if (record.find_first_not_of('\0') == std::string::npos) return "all zero";
  const std::string hashed = record.substr(0, kRecordHashed);
  uint64_t stored = 0;
  for (int i = 7; i >= 0; --i) stored = stored << 8 | static_cast<uint8_t>(record[kRecordHashed + i]);
  const std::string line = record.substr(0, std::min(record.find('\n'), size_t{40}));
  return absl::StrFormat("\"%s\", hash %s", absl::CHexEscape(line),
                         stored == Fnv1a64(hashed) ? "right" : "wrong");
}

// Problems with a drive image as snapshot_init leaves it after printing count `last`: sectors
// 1..last hold records 1..last; sector last+1 holds record last+1 (written, not yet printed)
// or nothing; sector 0 and every sector past them hold nothing. Empty when there are none.
std::string DriveProblems(const std::string& image, uint64_t last) {
  if (image.size() != kDriveBytes) return absl::StrCat(image.size(), " bytes, not ", kDriveBytes);
  std::string problems;
  int reported = 0;
  const uint64_t sectors = kDriveBytes / kRecordBytes;
  for (uint64_t k = 0; k < sectors && reported < 8; ++k) {
    const std::string record = image.substr(k * kRecordBytes, kRecordBytes);
    const bool zero = record.find_first_not_of('\0') == std::string::npos;
    bool right;
    if (k == 0 || k > last + 1) {
      right = zero;
    } else if (k == last + 1) {
      right = zero || record == ExpectedRecord(k);
    } else {
      right = record == ExpectedRecord(k);
    }
    if (!right) {
      absl::StrAppend(&problems, "sector ", k, ": ", DescribeRecord(record), "; ");
      ++reported;
    }
  }
  return problems;
}

struct Count {
  uint64_t k = 0;
  uint64_t clock_ns = 0;
};

// The complete "count K clock NS" lines of `console`, in order. The last piece is unfinished
// (or empty); a restored VM's console may begin with the end of a line the snapshot caught
// mid-print, which does not parse as a whole one.
std::vector<Count> Counts(const std::string& console) {
  std::vector<Count> counts;
  std::vector<std::string> lines = absl::StrSplit(console, '\n');
  lines.pop_back();
  for (std::string& line : lines) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    Count count;
    if (words.size() == 4 && words[0] == "count" && words[2] == "clock" && absl::SimpleAtoi(words[1], &count.k) &&
        absl::SimpleAtoi(words[3], &count.clock_ns)) {
      counts.push_back(count);
    }
  }
  return counts;
}

std::string Tail(const std::string& console) {
  return console.size() > 4000 ? console.substr(console.size() - 4000) : console;
}

std::string Mib(uint64_t bytes) { return absl::StrFormat("%.1f MiB", bytes / 1048576.0); }
std::string DeltaMib(int64_t bytes) { return absl::StrFormat("%+.1f MiB", bytes / 1048576.0); }

// A field of /proc/<pid>/status or /proc/<pid>/smaps_rollup ("RssAnon:", "Pss:"), in bytes;
// 0 when missing.
uint64_t ProcField(pid_t pid, const std::string& file, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/", file));
  for (std::string line; std::getline(in, line);) {
    uint64_t kib = 0;
    if (absl::StartsWith(line, field) &&
        absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(line.substr(field.size())), " kB"), &kib)) {
      return kib << 10;
    }
  }
  return 0;
}

// The daemon's memory, for the printed figures: RSS as DaemonProcess::ResidentMemoryBytes
// reads it (what the bound holds to), its parts (RssAnon: private pages, the clones' copies
// of what they wrote; RssFile and RssShmem: the memory file's pages mapped, shared, counted
// again in each clone that maps them; RssShmem when the snapshot root is on tmpfs), and PSS
// (each page divided among its mappings: what the clones really cost together).
struct Memory {
  int64_t rss = 0, anon = 0, file = 0, shmem = 0, pss = 0;

  static Memory Of(const ::vmmd::testing::DaemonProcess& daemon) {
    Memory memory;
    memory.rss = static_cast<int64_t>(daemon.ResidentMemoryBytes());
    memory.anon = static_cast<int64_t>(ProcField(daemon.pid(), "status", "RssAnon:"));
    memory.file = static_cast<int64_t>(ProcField(daemon.pid(), "status", "RssFile:"));
    memory.shmem = static_cast<int64_t>(ProcField(daemon.pid(), "status", "RssShmem:"));
    memory.pss = static_cast<int64_t>(ProcField(daemon.pid(), "smaps_rollup", "Pss:"));
    return memory;
  }
};

// "RSS +d (anon +x, file +y, shmem +z), PSS +e": the growth from `before` to `after`, divided
// by `divisor`; the figures themselves too when there is none.
std::string Growth(const Memory& before, const Memory& after, int divisor = 1) {
  const std::string growth = absl::StrFormat(
      "RSS %s (anon %s, file %s, shmem %s), PSS %s", DeltaMib((after.rss - before.rss) / divisor),
      DeltaMib((after.anon - before.anon) / divisor), DeltaMib((after.file - before.file) / divisor),
      DeltaMib((after.shmem - before.shmem) / divisor), DeltaMib((after.pss - before.pss) / divisor));
  if (divisor != 1) return growth;
  return absl::StrFormat("%s; RSS %.1f -> %.1f MiB, PSS %.1f -> %.1f MiB", growth, before.rss / 1048576.0,
                         after.rss / 1048576.0, before.pss / 1048576.0, after.pss / 1048576.0);
}

// The guest's answer on vsock: snapshot_init answers a connection to port 5000 with
// "cid CID count K\n".
struct GuestAnswer {
  bool ok = false;
  uint64_t cid = 0, count = 0;
  std::string text;  // everything read, vmmd's "OK <port>\n" first
};

// One connection to the guest's vsock port through vmmd's socket at `uds_path` ("CONNECT
// 5000\n", answered "OK <host port>\n"), read to EOF or `deadline`.
GuestAnswer AskGuestOnce(const std::string& uds_path, absl::Time deadline, absl::Duration bound) {
  GuestAnswer answer;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, uds_path.c_str(), sizeof(address.sun_path) - 1);
  const std::string command = absl::StrCat("CONNECT ", kVsockPort, "\n");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(command.size())) {
    answer.text = absl::StrCat("connect or send: ", std::strerror(errno));
    ::close(fd);
    return answer;
  }
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    pollfd waiting = {fd, POLLIN, 0};
    if (left <= absl::ZeroDuration() || ::poll(&waiting, 1, absl::ToInt64Milliseconds(left) + 1) <= 0) {
      absl::StrAppend(&answer.text, "[no EOF within ", absl::FormatDuration(bound), "]");
      break;
    }
    char buffer[256];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    answer.text.append(buffer, n);
  }
  ::close(fd);
  std::smatch match;
  if (std::regex_match(answer.text, match, std::regex("OK [0-9]+\ncid ([0-9]+) count ([0-9]+)\n"))) {
    answer.ok = absl::SimpleAtoi(match[1].str(), &answer.cid) && absl::SimpleAtoi(match[2].str(), &answer.count);
  }
  return answer;
}

// AskGuestOnce until an answer or `bound`. A restored clone's guest refuses a connection (vmmd
// then closes the socket without "OK") until it has handled the transport reset that gives it
// its new CID, as Firecracker's docs/vsock.md warns for snapshots: a client retries.
GuestAnswer AskGuest(const std::string& uds_path, absl::Duration bound) {
  const absl::Time deadline = absl::Now() + bound;
  int refused = 0;
  for (;;) {
    GuestAnswer answer = AskGuestOnce(uds_path, deadline, bound);
    if (!answer.text.empty() || absl::Now() + absl::Milliseconds(200) >= deadline) {
      if (refused > 0) answer.text = absl::StrCat("[refused ", refused, " times first] ", answer.text);
      return answer;
    }
    ++refused;
    absl::SleepFor(absl::Milliseconds(200));
  }
}

class LinuxSnapshotTest : public ::vmmd::testing::KernelTest {
 protected:
  void SetUp() override {
    std::string snapshots = TempDir() + "/snapshots-XXXXXX";
    ASSERT_NE(::mkdtemp(snapshots.data()), nullptr);
    snapshot_root_ = snapshots;
    // Not TEST_TMPDIR: "<uds_path>_<port>" must fit a sockaddr_un.
    std::string vsock = "/tmp/vmmd-vsock-XXXXXX";
    ASSERT_NE(::mkdtemp(vsock.data()), nullptr);
    vsock_root_ = vsock;
    daemon_flags_.push_back("--snapshot_root=" + snapshot_root_);
    daemon_flags_.push_back("--vsock_root=" + vsock_root_);
    KernelTest::SetUp();
  }

  void TearDown() override {
    KernelTest::TearDown();
    daemon_.reset();  // vmmd removes the sockets of the VMs it still had; a killed one may not
    for (const std::string& name : vsock_names_) ::unlink(absl::StrCat(vsock_root_, "/", name).c_str());
    if (!vsock_root_.empty()) ::rmdir(vsock_root_.c_str());
  }

  std::string UdsPath(const std::string& name) {
    vsock_names_.push_back(name);
    return absl::StrCat(vsock_root_, "/", name);
  }

  std::string Console(const std::string& vm_id) {
    return ::vmmd::testing::ReadConsole(*stub_, vm_id, false, std::chrono::seconds(30));
  }

  vmm::v1::Vm GetVm(const std::string& vm_id) { return ::vmmd::testing::GetVmOrFail(*stub_, vm_id); }

  // The VM's console once it holds at least `lines` whole count lines, polled (bounded by
  // `bound`); earlier when the VM stopped (its init failed, or it stopped counting).
  std::string AwaitCounts(const std::string& vm_id, size_t lines, absl::Duration bound) {
    const absl::Time deadline = absl::Now() + bound;
    std::string console = Console(vm_id);
    while (Counts(console).size() < lines && absl::Now() < deadline &&
           GetVm(vm_id).state() == vmm::v1::VM_STATE_RUNNING) {
      absl::SleepFor(absl::Milliseconds(250));
      console = Console(vm_id);
    }
    return console;
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

  // RestoreVm of the test's snapshot, resumed, with `drive` for its drive and `uds_path` (and
  // `cid`, unless 0) for its vsock device.
  grpc::Status Restore(const std::string& vm_id, const std::string& drive, const std::string& uds_path, uint32_t cid,
                       vmm::v1::Vm* vm) {
    vmm::v1::RestoreVmRequest request;
    request.set_vm_id(vm_id);
    request.set_snapshot_dir(snapshot_dir());
    request.set_resume(true);
    vmm::v1::DriveOverride* override = request.add_drive_overrides();
    override->set_drive_id(kDriveId);
    override->set_path(drive);
    request.mutable_vsock_override()->set_uds_path(uds_path);
    request.mutable_vsock_override()->set_guest_cid(cid);
    return stub_->RestoreVm(Context().get(), request, vm);
  }

  std::string snapshot_dir() const { return snapshot_root_ + "/linux"; }

  // A restored VM's console goes on from the snapshot's: `seam` is the snapshot's console
  // after its last newline (a line caught mid-print, or nothing), `last` its last whole
  // count. Checks that `console` holds at least kCountsAfterRestore whole lines and returns
  // the last count (0 when there is none).
  uint64_t ExpectGoesOn(const std::string& vm_id, const std::string& console, const std::string& seam,
                        const Count& last) {
    EXPECT_GE(Counts(console).size(), kCountsAfterRestore) << vm_id << "'s console:\n" << Tail(console);
    // The guest did not start again: no boot, no second "ready", no count from 1.
    EXPECT_THAT(console, Not(HasSubstr("snapshot-init: ready"))) << vm_id;
    EXPECT_THAT(console, Not(HasSubstr("reached userspace"))) << vm_id;
    EXPECT_THAT(console, Not(HasSubstr("snapshot-init: stopped"))) << vm_id << ":\n" << Tail(console);
    // Not a byte lost or repeated at the snapshot: the line it caught mid-print, its start
    // in the snapshot's console and its end in this one, is whole again, and it is count
    // N+1. (The restored console alone begins with N+1, or with N+2 after that line's end.)
    const std::string stitched = seam + console;
    const std::string first_line = stitched.substr(0, stitched.find('\n'));
    const bool whole = std::regex_match(first_line, std::regex(absl::StrCat("count ", last.k + 1, " clock [0-9]+\r?")));
    EXPECT_TRUE(whole)
        << vm_id << ": the line across the snapshot is \"" << absl::CHexEscape(seam) << "\" + \""
        << absl::CHexEscape(console.substr(0, console.find('\n'))) << "\"; the console:\n" << Tail(console);
    const std::vector<Count> counts = Counts(stitched);
    if (counts.empty()) return 0;
    // CLOCK_MONOTONIC went on from the snapshot's: each line at least the 100 ms of the
    // guest's nanosleep after the one before, across the snapshot too (nanosleep waits at
    // least that long by that clock: less means it went backwards or jumped back).
    // (When that line is not whole, the counts go on from the one after it.)
    Count previous = whole ? last : Count{last.k + 1, last.clock_ns};
    for (const Count& count : counts) {
      EXPECT_EQ(count.k, previous.k + 1) << vm_id << "'s console:\n" << Tail(console);
      EXPECT_GE(count.clock_ns, previous.clock_ns + 100'000'000u)
          << vm_id << ": count " << count.k << " at " << count.clock_ns << " ns, count " << previous.k << " at "
          << previous.clock_ns << " ns";
      previous = count;
    }
    return counts.back().k;
  }

  std::string snapshot_root_, vsock_root_;
  std::vector<std::string> vsock_names_;
};

TEST_F(LinuxSnapshotTest, ARestoredGuestAndTenClonesGoOnCountingOnConsistentDrives) {
  ASSERT_TRUE(::vmmd::testing::ModulesFetched(cache_));
  const absl::Time test_start = absl::Now();
  const std::string drive = daemon_->ImagePath("counts.img");
  ASSERT_TRUE(WriteFile(drive, std::string(kDriveBytes, '\0')));
  const std::string initrd = daemon_->ImagePath("snapshot.cpio");
  ASSERT_TRUE(WriteFile(initrd, GuestInitramfs(cache_, kInit)));

  // The original: booted, counting, answering on vsock.
  const Memory idle = Memory::Of(*daemon_);
  vmm::v1::CreateVmRequest create;
  create.set_vcpu_count(1);
  create.set_memory_mib(kMemoryMib);
  vmm::v1::Drive* counts_drive = create.add_drives();
  counts_drive->set_drive_id(kDriveId);
  counts_drive->set_path(drive);
  create.mutable_vsock()->set_guest_cid(kGuestCid);
  create.mutable_vsock()->set_uds_path(UdsPath("original.sock"));
  vmm::v1::ConfigureBootRequest configure;
  configure.set_kernel_path(cache_ + "/vmlinuz-generic");
  configure.set_initrd_path(initrd);
  configure.set_cmdline(kKernelCmdline);
  configure.set_acpi("off");  // the devices on the command line (virtio_mmio_cmdline.ko)
  KernelRun run(stub_.get(), "original", daemon_.get());
  run.Boot(create, configure);
  ASSERT_FALSE(HasFailure()) << "the VM did not start";
  const std::string booted = AwaitCounts("original", kCountsBeforeSnapshot, kBootBound);
  ASSERT_GE(Counts(booted).size(), kCountsBeforeSnapshot) << "the original's console:\n" << Tail(booted);
  EXPECT_THAT(booted, HasSubstr("snapshot-init: check modules: PASS"));
  EXPECT_THAT(booted, HasSubstr("snapshot-init: check drive: PASS"));
  EXPECT_THAT(booted, HasSubstr("snapshot-init: check vsock: PASS"));
  EXPECT_THAT(booted, Not(HasSubstr(": FAIL"))) << Tail(booted);
  const absl::Duration to_counting = absl::Now() - test_start;
  // vsock works before the snapshot, so that a failure after it is the restore's.
  const GuestAnswer original_answer = AskGuest(absl::StrCat(vsock_root_, "/original.sock"), kVsockBound);
  EXPECT_TRUE(original_answer.ok) << original_answer.text;
  EXPECT_EQ(original_answer.cid, kGuestCid) << original_answer.text;
  EXPECT_GE(original_answer.count, kCountsBeforeSnapshot) << original_answer.text;
  // What a freshly booted VM of this kind costs the daemon: its guest's pages (kernel,
  // initramfs, modules, page cache), its threads, its device and console buffers.
  const Memory booted_memory = Memory::Of(*daemon_);
  const int64_t boot_cost = booted_memory.rss - idle.rss;

  // Paused at count N, saved, deleted: mid-line when the console can be caught so (within
  // kMidLineBound), so that the line across the snapshot (begun in the original's console,
  // ended in each restored one's) is checked on most runs, not only by chance. Once the
  // guest's 8250 driver transmits on THR-empty interrupts, every console byte is a vCPU
  // exit: a pause then often finds the vCPU just past one.
  const absl::Time mid_line_until = absl::Now() + kMidLineBound;
  bool mid_line = false;
  while (!mid_line && absl::Now() < mid_line_until) {
    const std::string now = Console("original");
    mid_line = !now.empty() && now.back() != '\n';
  }
  ASSERT_TRUE(Pause("original").ok());
  vmm::v1::SnapshotVmRequest snapshot;
  snapshot.set_vm_id("original");
  snapshot.set_snapshot_dir(snapshot_dir());
  vmm::v1::SnapshotInfo info;
  const grpc::Status saved = stub_->SnapshotVm(Context().get(), snapshot, &info);
  ASSERT_TRUE(saved.ok()) << saved.error_message();
  // The console as the snapshot has it: read after SnapshotVm, which has the guest's every
  // byte out first (what KVM still held of COM1's output).
  const std::string paused = Console("original");
  const std::vector<Count> before = Counts(paused);
  ASSERT_GE(before.size(), kCountsBeforeSnapshot) << Tail(paused);
  const Count last = before.back();
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].k, i + 1) << "the original counts from 1, one by one:\n" << Tail(paused);
  }
  const std::string seam = paused.substr(paused.rfind('\n') + 1);
  ASSERT_EQ(info.files_size(), 2) << info.DebugString();
  EXPECT_EQ(info.files(1).path(), snapshot_dir() + "/memory");
  EXPECT_EQ(info.files(1).size_bytes(), kMemoryMib << 20);
  // Sparse: holes where the guest's pages are zero. The guest has touched tens of MiB of
  // its 128, never all of it.
  EXPECT_GT(info.files(1).allocated_bytes(), 0u);
  EXPECT_LT(info.files(1).allocated_bytes(), info.files(1).size_bytes()) << info.DebugString();
  ASSERT_TRUE(Delete("original").ok());
  run.WaitForStop(absl::Minutes(1));  // the console stream ended with the VM; prints the boot's times
  std::cerr << absl::StrFormat(
      "original: count %d at clock %d ns after %.1f s, \"%s\" after it (the pause %s); snapshot in %.2f s: "
      "state %d bytes, memory %s of %s on disk\n",
      last.k, last.clock_ns, absl::ToDoubleSeconds(to_counting), absl::CHexEscape(seam),
      mid_line ? "followed a console read that ended mid-line" : "found no console read ending mid-line",
      info.duration_micros() / 1e6, info.files(0).size_bytes(), Mib(info.files(1).allocated_bytes()),
      Mib(info.files(1).size_bytes()));
  RecordProperty("snapshot_seconds", absl::StrFormat("%.2f", info.duration_micros() / 1e6));
  RecordProperty("snapshot_memory_on_disk_mib", absl::StrFormat("%.1f", info.files(1).allocated_bytes() / 1048576.0));

  // The drive as the original left it: what every restored VM starts from.
  const std::string original_drive = ReadFile(drive);
  EXPECT_EQ(DriveProblems(original_drive, last.k), "") << "the original's drive after count " << last.k;

  // One restored VM, on a copy of the drive and its own socket.
  const std::string restored_drive = daemon_->ImagePath("restored.img");
  ASSERT_TRUE(WriteFile(restored_drive, original_drive));
  const Memory before_restore = Memory::Of(*daemon_);
  vmm::v1::Vm restored;
  absl::Time start = absl::Now();
  grpc::Status status = Restore("restored", restored_drive, UdsPath("restored.sock"), 0, &restored);
  const absl::Duration restore_took = absl::Now() - start;
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(restored.state(), vmm::v1::VM_STATE_RUNNING);
  EXPECT_EQ(restored.memory_mib(), kMemoryMib);
  AwaitCounts("restored", kCountsAfterRestore, kCountBound);  // ExpectGoesOn below says what it lacks
  const absl::Duration restored_counting = absl::Now() - start;
  const GuestAnswer restored_answer = AskGuest(absl::StrCat(vsock_root_, "/restored.sock"), kVsockBound);
  EXPECT_TRUE(restored_answer.ok) << restored_answer.text;
  EXPECT_EQ(restored_answer.cid, kGuestCid) << "no CID override: the snapshot's";
  EXPECT_GT(restored_answer.count, last.k) << restored_answer.text;
  const Memory restored_memory = Memory::Of(*daemon_);
  ASSERT_TRUE(Pause("restored").ok());
  const std::string restored_final = Console("restored");
  const uint64_t restored_last = ExpectGoesOn("restored", restored_final, seam, last);
  ASSERT_TRUE(Delete("restored").ok());
  // Records 1..N from before the snapshot and N+1..M from after it, none missing, none torn.
  EXPECT_EQ(DriveProblems(ReadFile(restored_drive), restored_last), "")
      << "the restored VM's drive after count " << restored_last;
  EXPECT_GE(restored_last, last.k + kCountsAfterRestore);
  std::cerr << absl::StrFormat(
      "restored: RestoreVm %.3f s, %d whole lines (%d..%d) %.1f s after it; the daemon with it running: %s\n",
      absl::ToDoubleSeconds(restore_took), Counts(restored_final).size(),
      Counts(restored_final).empty() ? 0 : Counts(restored_final).front().k, restored_last,
      absl::ToDoubleSeconds(restored_counting), Growth(before_restore, restored_memory));

  // Ten clones at once, each with its own drive copy, socket and CID.
  std::vector<std::string> clone_drives;
  std::vector<std::string> clone_sockets;
  for (int i = 0; i < kClones; ++i) {
    clone_drives.push_back(daemon_->ImagePath(absl::StrCat("clone-", i, ".img")));
    ASSERT_TRUE(WriteFile(clone_drives.back(), original_drive));
    clone_sockets.push_back(UdsPath(absl::StrCat("clone-", i, ".sock")));
  }
  // No VM left: what follows is the clones' alone (DeleteVm has unmapped the others).
  const Memory before_clones = Memory::Of(*daemon_);
  std::vector<grpc::Status> restores(kClones);
  std::vector<vmm::v1::Vm> clones(kClones);
  std::vector<std::thread> restoring;
  start = absl::Now();
  for (int i = 0; i < kClones; ++i) {
    restoring.emplace_back([&, i] {
      restores[i] = Restore(absl::StrCat("clone-", i), clone_drives[i], clone_sockets[i], kFirstCloneCid + i,
                            &clones[i]);
    });
  }
  for (std::thread& thread : restoring) thread.join();
  const absl::Duration clones_took = absl::Now() - start;
  for (int i = 0; i < kClones; ++i) {
    ASSERT_TRUE(restores[i].ok()) << "clone-" << i << ": " << restores[i].error_message();
    EXPECT_EQ(clones[i].state(), vmm::v1::VM_STATE_RUNNING) << "clone-" << i;
    EXPECT_EQ(clones[i].memory_mib(), kMemoryMib) << "clone-" << i;
  }
  for (int i = 0; i < kClones; ++i) {
    const std::string console = AwaitCounts(absl::StrCat("clone-", i), kCountsAfterRestore, kCountBound);
    EXPECT_GE(Counts(console).size(), kCountsAfterRestore) << "clone-" << i << ":\n" << Tail(console);
  }
  const absl::Duration clones_counting = absl::Now() - start;
  for (int i = 0; i < kClones; ++i) {
    const GuestAnswer answer = AskGuest(clone_sockets[i], kVsockBound);
    EXPECT_TRUE(answer.ok) << "clone-" << i << ": " << answer.text;
    // Its own CID, as the guest reads it again after the transport reset: the answer came
    // from this clone's guest, through this clone's socket.
    EXPECT_EQ(answer.cid, kFirstCloneCid + i) << "clone-" << i << ": " << answer.text;
    EXPECT_GT(answer.count, last.k) << "clone-" << i << ": " << answer.text;
  }

  // All ten running: what they cost the daemon.
  const Memory clones_memory = Memory::Of(*daemon_);
  const int64_t per_clone = (clones_memory.rss - before_clones.rss) / kClones;
  const int64_t pss_per_clone = (clones_memory.pss - before_clones.pss) / kClones;
  std::cerr << absl::StrFormat(
      "clones: %d RestoreVm at once in %.3f s, all %d whole lines within %.1f s; guest memory_mib %d each\n"
      "  the daemon with the %d clones running: %s\n"
      "  per clone: %s\n"
      "  booting the original (for comparison): %s\n",
      kClones, absl::ToDoubleSeconds(clones_took), kCountsAfterRestore, absl::ToDoubleSeconds(clones_counting),
      kMemoryMib, kClones, Growth(before_clones, clones_memory), Growth(before_clones, clones_memory, kClones),
      Growth(idle, booted_memory));
  RecordProperty("rss_boot_cost_mib", absl::StrFormat("%.1f", boot_cost / 1048576.0));
  RecordProperty("rss_per_clone_mib", absl::StrFormat("%.1f", per_clone / 1048576.0));
  RecordProperty("pss_per_clone_mib", absl::StrFormat("%.1f", pss_per_clone / 1048576.0));
  RecordProperty("clone_restores_seconds", absl::StrFormat("%.3f", absl::ToDoubleSeconds(clones_took)));
  // Sharing. A booted guest's memory is the daemon's own, every page it touched; a clone's
  // is the memory file mapped copy-on-write: it costs the pages it touches after the
  // restore, and of those only the ones it writes are its own. RSS counts a page of the file
  // again in every clone that maps it, PSS divides it among them. Measured in the test VM
  // (QEMU TCG, snapshot root on tmpfs): the boot cost +101 MiB of RSS, nearly all of it
  // anonymous (75 MiB of its 128 MiB not zero at the snapshot); a clone +11.6 MiB of RSS
  // (0.8 MiB anonymous, 10.7 MiB the file's pages), +2.6 MiB of PSS. Bounds with room:
  // a clone's RSS below half a boot's (a restore that read the memory file into the VM's
  // own memory would cost the 75 MiB again per clone), its PSS below half its RSS (clones
  // that each had private copies of what they map would not share). The sanitized build's
  // RSS holds the sanitizer's own memory: there the figures are printed only
  // (memory_bounds.h).
  EXPECT_GT(boot_cost, 0);
  if (::vmmd::testing::kMemoryBoundsApply) {
    EXPECT_LT(per_clone, boot_cost / 2)
        << "RSS per clone " << DeltaMib(per_clone) << ", boot cost " << DeltaMib(boot_cost);
    EXPECT_LT(pss_per_clone, per_clone / 2)
        << "PSS per clone " << DeltaMib(pss_per_clone) << ", RSS per clone " << DeltaMib(per_clone);
  }

  // Each clone went on from the snapshot on its own drive.
  for (int i = 0; i < kClones; ++i) {
    const std::string id = absl::StrCat("clone-", i);
    ASSERT_TRUE(Pause(id).ok()) << id;
    const uint64_t clone_last = ExpectGoesOn(id, Console(id), seam, last);
    ASSERT_TRUE(Delete(id).ok()) << id;
    EXPECT_EQ(DriveProblems(ReadFile(clone_drives[i]), clone_last), "") << id << "'s drive after count " << clone_last;
    EXPECT_GE(clone_last, last.k + kCountsAfterRestore) << id;
  }
  // The drive overrides took: nothing restored wrote to the snapshot's own drive.
  EXPECT_TRUE(ReadFile(drive) == original_drive)
      << "the snapshot's drive changed: " << DriveProblems(ReadFile(drive), last.k);
  std::cerr << absl::StrFormat("test: %.1f s\n", absl::ToDoubleSeconds(absl::Now() - test_start));
}

}  // namespace
}  // namespace vmmd
