// Boots Debian's own Linux 6.1 kernels through the real vmmd binary and checks, in the
// kernel's own early messages, that it read what vmmd says it wrote (tag: requires-kvm):
//   1. the generic vmlinux through the 64-bit entry for 1, 2 and 4 vCPUs: the BIOS-e820
//      lines equal BootInfo's map, the MP table is found at 0x9fc00, "Processors: N" and
//      "Kernel command line:" echo ours;
//   2. the same through PVH;
//   3. the cloud bzImage through its 64-bit entry: "Linux version", "Command line:", e820;
//   4. with a busybox initramfs: "RAMDISK: [mem X-Y]" is where BootInfo put the initrd;
//   5. with 4096 MiB: RAM below 3 GiB and from 4 GiB, nothing in the MMIO gap.
// The kernels come from tests/linux/fetch_kernels.sh (tools/test runs it) through the
// directory in $VMMD_KERNEL_CACHE. This KVM is nested and emulates guest code slowly
// (shared/design/environment.md), so each case waits for its messages up to a bound and
// records how long they took; the kernel runs on afterwards until the VM is deleted.
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "tests/daemon/daemon_process.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::DaemonProcess;

constexpr char kDaemon[] = "daemon/vmmd";
// What these machines need (environment.md): no ACPI, no XSAVE, no CX16; reboot=k so that
// a reboot reaches the i8042.
constexpr char kCmdline[] =
    "console=ttyS0 earlyprintk=serial acpi=off noxsave clearcpuid=cx16 reboot=k panic=-1";
// Hang guards. Measured here (nested KVM, 2 cores): the generic kernel prints "Kernel
// command line:" 40-70 s after StartVcpus; the cloud bzImage decompresses for about 90 s
// first. The bounds are several times that, so a loaded CI machine still passes.
constexpr absl::Duration kVmlinuxBound = absl::Minutes(6);
constexpr absl::Duration kBzImageBound = absl::Minutes(9);

std::string KernelCache() {
  const char* cache = std::getenv("VMMD_KERNEL_CACHE");
  return cache == nullptr ? "" : cache;
}

struct E820Line {
  uint64_t start, end;  // inclusive, as the kernel prints it
  std::string type;
  bool operator==(const E820Line& o) const { return start == o.start && end == o.end && type == o.type; }
};

std::ostream& operator<<(std::ostream& os, const E820Line& line) {
  return os << absl::StrFormat("[%#x-%#x] %s", line.start, line.end, line.type);
}

// "BIOS-e820: [mem 0x...-0x...] usable" lines, in order.
std::vector<E820Line> KernelE820(const std::string& console) {
  static const std::regex line(R"(BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (\w+))");
  std::vector<E820Line> lines;
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line); it != std::sregex_iterator(); ++it) {
    lines.push_back({std::stoull((*it)[1], nullptr, 16), std::stoull((*it)[2], nullptr, 16), (*it)[3]});
  }
  return lines;
}

std::vector<E820Line> BootInfoE820(const vmm::v1::BootInfo& info) {
  std::vector<E820Line> lines;
  for (const vmm::v1::E820Entry& entry : info.e820()) {
    lines.push_back({entry.address(), entry.address() + entry.size() - 1,
                     entry.type() == 1 ? "usable" : "reserved"});
  }
  return lines;
}

// One VM running a kernel, its console followed in the background.
class KernelRun {
 public:
  KernelRun(vmm::v1::VmmService::Stub* stub, std::string vm_id) : stub_(stub), vm_id_(std::move(vm_id)) {}
  ~KernelRun() {
    if (follower_.joinable()) {
      grpc::ClientContext context;
      vmm::v1::DeleteVmRequest request;
      request.set_vm_id(vm_id_);
      vmm::v1::DeleteVmResponse response;
      stub_->DeleteVm(&context, request, &response);  // ends the console stream
      follower_.join();
    }
  }

  // Create, configure and start; returns the BootInfo, or fails the test.
  vmm::v1::BootInfo Boot(uint32_t vcpus, uint64_t memory_mib, const std::string& kernel,
                         const std::string& protocol, const std::string& initrd = "") {
    vmm::v1::BootInfo info;
    grpc::ClientContext create_context;
    vmm::v1::CreateVmRequest create;
    create.set_vm_id(vm_id_);
    create.set_vcpu_count(vcpus);
    create.set_memory_mib(memory_mib);
    vmm::v1::Vm vm;
    grpc::Status status = stub_->CreateVm(&create_context, create, &vm);
    EXPECT_TRUE(status.ok()) << status.error_message();
    grpc::ClientContext configure_context;
    vmm::v1::ConfigureBootRequest configure;
    configure.set_vm_id(vm_id_);
    configure.set_kernel_path(kernel);
    configure.set_initrd_path(initrd);
    configure.set_cmdline(kCmdline);
    configure.set_boot_protocol(protocol);
    status = stub_->ConfigureBoot(&configure_context, configure, &info);
    EXPECT_TRUE(status.ok()) << status.error_message();
    follower_ = std::thread([this] { Follow(); });
    grpc::ClientContext start_context;
    vmm::v1::StartVcpusRequest start;
    start.set_vm_id(vm_id_);
    status = stub_->StartVcpus(&start_context, start, &vm);
    EXPECT_TRUE(status.ok()) << status.error_message();
    started_ = absl::Now();
    return info;
  }

  // Waits until every regex matches the console (or the VM stopped, or `bound` passed).
  // Patterns end at the line's end ("\r") so that no line is matched half-written.
  // Returns the console so far; reports how long it took.
  std::string WaitFor(const std::vector<std::string>& patterns, absl::Duration bound) {
    std::vector<std::regex> regexes(patterns.begin(), patterns.end());
    auto all_there = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      if (stream_ended_) return true;
      for (const std::regex& regex : regexes) {
        if (!std::regex_search(console_, regex)) return false;
      }
      return true;
    };
    absl::MutexLock lock(&mutex_);
    mutex_.AwaitWithTimeout(absl::Condition(&all_there), bound);
    const absl::Duration took = absl::Now() - started_;
    ::testing::Test::RecordProperty("seconds_to_messages", absl::StrFormat("%.1f", absl::ToDoubleSeconds(took)));
    std::cerr << vm_id_ << ": expected messages after " << absl::FormatDuration(took) << "\n";
    return console_;
  }

 private:
  void Follow() {
    grpc::ClientContext context;
    vmm::v1::StreamConsoleRequest request;
    request.set_vm_id(vm_id_);
    request.set_follow(true);
    auto reader = stub_->StreamConsole(&context, request);
    vmm::v1::ConsoleChunk chunk;
    while (reader->Read(&chunk)) {
      absl::MutexLock lock(&mutex_);
      console_ += chunk.data();
    }
    reader->Finish();
    absl::MutexLock lock(&mutex_);
    stream_ended_ = true;
  }

  vmm::v1::VmmService::Stub* const stub_;
  const std::string vm_id_;
  std::thread follower_;
  absl::Time started_;
  absl::Mutex mutex_;
  std::string console_ ABSL_GUARDED_BY(mutex_);
  bool stream_ended_ ABSL_GUARDED_BY(mutex_) = false;
};

class LinuxBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KvmSystem::Open().ok()) GTEST_SKIP() << "no usable /dev/kvm";
    cache_ = KernelCache();
    // Plain `bazel test` without the kernels skips; tools/test always sets the variable, and
    // then missing kernels fail the tests.
    if (cache_.empty()) GTEST_SKIP() << "VMMD_KERNEL_CACHE is not set: run tools/test";
    auto daemon = DaemonProcess::Start(kDaemon, {}, {"--image_root=" + cache_});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    stub_ = vmm::v1::VmmService::NewStub(daemon_->Connect());
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }
  std::string Kernel(const std::string& name) const { return cache_ + "/" + name; }

  // Cases 1 and 2.
  void BootGenericVmlinux(const std::string& protocol, uint32_t vcpus) {
    KernelRun run(stub_.get(), absl::StrCat(protocol, "-", vcpus));
    const vmm::v1::BootInfo info = run.Boot(vcpus, 256, Kernel("vmlinux"), protocol);
    EXPECT_EQ(info.boot_protocol(), protocol);
    const std::string processors = absl::StrCat("Processors: ", vcpus, "\r");
    const std::string cmdline = absl::StrCat("Kernel command line: ", kCmdline, "\r");
    const std::string console = run.WaitFor(
        {R"(found SMP MP-table at [^\r]*\r)", processors, R"(Kernel command line: [^\r]*\r)"},
        kVmlinuxBound);
    EXPECT_EQ(KernelE820(console), BootInfoE820(info)) << console.substr(0, 3000);
    EXPECT_THAT(console, HasSubstr("found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]"));
    EXPECT_THAT(console, HasSubstr(processors));
    EXPECT_THAT(console, HasSubstr(cmdline));
  }

  std::string cache_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<vmm::v1::VmmService::Stub> stub_;
};

TEST_F(LinuxBootTest, GenericVmlinux64BitEntryOneVcpu) { BootGenericVmlinux("linux64", 1); }
TEST_F(LinuxBootTest, GenericVmlinux64BitEntryTwoVcpus) { BootGenericVmlinux("linux64", 2); }
TEST_F(LinuxBootTest, GenericVmlinux64BitEntryFourVcpus) { BootGenericVmlinux("linux64", 4); }
TEST_F(LinuxBootTest, GenericVmlinuxPvhOneVcpu) { BootGenericVmlinux("pvh", 1); }
TEST_F(LinuxBootTest, GenericVmlinuxPvhTwoVcpus) { BootGenericVmlinux("pvh", 2); }
TEST_F(LinuxBootTest, GenericVmlinuxPvhFourVcpus) { BootGenericVmlinux("pvh", 4); }

TEST_F(LinuxBootTest, CloudBzImage64BitEntry) {
  KernelRun run(stub_.get(), "cloud-bzimage");
  const vmm::v1::BootInfo info = run.Boot(1, 256, Kernel("vmlinuz-cloud"), "auto");
  EXPECT_EQ(info.kernel_format(), "bzimage");
  EXPECT_EQ(info.boot_protocol(), "linux64");
  EXPECT_EQ(info.entry_point(), 0x100200u);
  const std::string command_line = absl::StrCat("Command line: ", kCmdline, "\r");
  const std::string console = run.WaitFor(
      {R"(Linux version [^\r]*\r)", R"(Command line: [^\r]*\r)", "printk: bootconsole"},
      kBzImageBound);
  EXPECT_TRUE(std::regex_search(console, std::regex(R"(Linux version 6\.1\.\S+-cloud-amd64)")))
      << console.substr(0, 2000);
  EXPECT_THAT(console, HasSubstr(command_line));
  EXPECT_EQ(KernelE820(console), BootInfoE820(info));
}

TEST_F(LinuxBootTest, InitramfsIsWhereBootInfoSays) {
  KernelRun run(stub_.get(), "initramfs");
  const vmm::v1::BootInfo info =
      run.Boot(1, 256, Kernel("vmlinux"), "linux64", Kernel("initramfs.cpio"));
  ASSERT_GT(info.initrd_size(), 0u);
  const std::string console = run.WaitFor({R"(RAMDISK: \[mem [^\r]*\r)"}, kVmlinuxBound);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(console, match, std::regex(R"(RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\])")))
      << console.substr(0, 3000);
  EXPECT_EQ(std::stoull(match[1], nullptr, 16), info.initrd_address());
  // arch/x86/kernel/setup.c, reserve_initrd(): the end it prints is page-aligned, minus 1.
  const uint64_t page_aligned_end = (info.initrd_address() + info.initrd_size() + 0xfff) & ~0xfffull;
  EXPECT_EQ(std::stoull(match[2], nullptr, 16), page_aligned_end - 1);
}

TEST_F(LinuxBootTest, FourGiBLeaveTheMmioGapOut) {
  KernelRun run(stub_.get(), "four-gib");
  const vmm::v1::BootInfo info = run.Boot(1, 4096, Kernel("vmlinux"), "linux64");
  const std::string console = run.WaitFor({"printk: bootconsole"}, kVmlinuxBound);
  const std::vector<E820Line> kernel = KernelE820(console);
  EXPECT_EQ(kernel, BootInfoE820(info));
  EXPECT_EQ(kernel, (std::vector<E820Line>{{0x0, 0x9fbff, "usable"},
                                           {0x9fc00, 0xfffff, "reserved"},
                                           {0x100000, 0xbfffffff, "usable"},
                                           {0x100000000, 0x13fffffff, "usable"}}));
  for (const E820Line& line : kernel) {
    EXPECT_FALSE(line.start < 0x100000000 && line.end >= 0xc0000000) << line << " is in the gap";
  }
}

}  // namespace
}  // namespace vmmd
