// KvmSystem, Vm and Vcpu against the real /dev/kvm (tag: requires-kvm).
#include <errno.h>
#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "base/status_matchers.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/coalesced_io_ring.h"
#include "kvm/guest_memory.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::KvmTest;
using ::vmmd::testing::StatusIs;

TEST(KvmSystemTest, MissingDeviceIsUnavailable) {
  EXPECT_THAT(KvmSystem::Open("/nonexistent/kvm"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("/nonexistent/kvm")));
}

TEST(KvmSystemTest, NonKvmDeviceFailsTheVersionCheck) {
  // /dev/null opens but does not answer KVM_GET_API_VERSION.
  EXPECT_FALSE(KvmSystem::Open("/dev/null").ok());
}

using KvmSystemKvmTest = KvmTest;

TEST_F(KvmSystemKvmTest, ReportsCapabilitiesAndCpuid) {
  ASSERT_OK_AND_ASSIGN(int irqchip, kvm().CheckExtension(KVM_CAP_IRQCHIP));
  EXPECT_GT(irqchip, 0);
  EXPECT_GE(kvm().vcpu_mmap_size(), static_cast<int>(sizeof(kvm_run)));
  ASSERT_OK_AND_ASSIGN(auto cpuid, kvm().GetSupportedCpuid());
  ASSERT_FALSE(cpuid.empty());
  bool has_leaf_1 = false;
  for (const kvm_cpuid_entry2& entry : cpuid) has_leaf_1 |= entry.function == 1;
  EXPECT_TRUE(has_leaf_1);
}

using VmTest = ::vmmd::testing::RealModeVmTest;

TEST_F(VmTest, RegistersRoundTrip) {
  kvm_regs regs = {};
  regs.rax = 0x1234;
  regs.rsp = 0x8ff0;
  regs.rip = 0x100000;
  regs.rflags = 2;
  ASSERT_OK(vcpu_->SetRegs(regs));
  ASSERT_OK_AND_ASSIGN(kvm_regs read, vcpu_->GetRegs());
  EXPECT_EQ(read.rax, 0x1234u);
  EXPECT_EQ(read.rsp, 0x8ff0u);
  EXPECT_EQ(read.rip, 0x100000u);
}

TEST_F(VmTest, RejectedMsrIsNamed) {
  // 0x12345678 is no MSR; KVM stops there and says it wrote 0 entries.
  kvm_msr_entry bogus = {};
  bogus.index = 0x12345678;
  EXPECT_THAT(vcpu_->SetMsrs({&bogus, 1}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("0x12345678")));
}

TEST_F(VmTest, DuplicateVcpuIdIsRejected) {
  EXPECT_THAT(vm_->CreateVcpu(0), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("id=0")));
}

TEST_F(VmTest, PortWriteExitsWithItsData) {
  // mov al, 0x42; out 0x10, al; jmp $
  LoadRealModeCode(std::array<uint8_t, 6>{0xb0, 0x42, 0xe6, 0x10, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(out->port, 0x10);
  EXPECT_EQ(out->size, 1);
  ASSERT_EQ(out->data.size(), 1u);
  EXPECT_EQ(out->data[0], 0x42);
}

TEST_F(VmTest, PortReadTakesTheValueWeGive) {
  // in al, 0x70 (CMOS index: not emulated in-kernel); out 0x10, al; jmp $
  LoadRealModeCode(std::array<uint8_t, 6>{0xe4, 0x70, 0xe6, 0x10, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(VcpuExit first, vcpu_->Run());
  auto* in = std::get_if<vcpu_exit::IoIn>(&first);
  ASSERT_NE(in, nullptr) << "exit index " << first.index();
  EXPECT_EQ(in->port, 0x70);
  in->data[0] = 0x5c;
  ASSERT_OK_AND_ASSIGN(VcpuExit second, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&second);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->data[0], 0x5c);
}

// A port exit completes only at the next KVM_RUN: until then RIP is still at the OUT (state
// saved then would replay it) and an IN's value is not yet in AL. CompletePendingExit
// finishes both without running the guest on.
TEST_F(VmTest, CompletingAPendingExitMovesPastTheInstructionWithoutRunning) {
  // in al, 0x70; out 0x10, al; jmp $
  LoadRealModeCode(std::array<uint8_t, 6>{0xe4, 0x70, 0xe6, 0x10, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(kvm_regs start, vcpu_->GetRegs());
  ASSERT_OK_AND_ASSIGN(VcpuExit first, vcpu_->Run());
  auto* in = std::get_if<vcpu_exit::IoIn>(&first);
  ASSERT_NE(in, nullptr) << "exit index " << first.index();
  in->data[0] = 0x5c;
  ASSERT_OK_AND_ASSIGN(kvm_regs pending, vcpu_->GetRegs());
  EXPECT_EQ(pending.rip, start.rip) << "KVM still owes the IN";
  ASSERT_OK(vcpu_->CompletePendingExit());
  ASSERT_OK_AND_ASSIGN(kvm_regs done, vcpu_->GetRegs());
  EXPECT_EQ(done.rip, start.rip + 2) << "past the IN, not past the OUT after it";
  EXPECT_EQ(done.rax & 0xff, 0x5cu);
  // And the guest goes on from there: the OUT comes next, once.
  ASSERT_OK_AND_ASSIGN(VcpuExit second, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&second);
  ASSERT_NE(out, nullptr) << "exit index " << second.index();
  EXPECT_EQ(out->data[0], 0x5c);
  ASSERT_OK(vcpu_->CompletePendingExit());
  ASSERT_OK_AND_ASSIGN(kvm_regs after_out, vcpu_->GetRegs());
  EXPECT_EQ(after_out.rip, start.rip + 4);
}

TEST_F(VmTest, WriteOutsideRamIsMmio) {
  // mov ax, 0x1000; mov ds, ax; mov byte [0xf000], 0x5a; jmp $   (0x1f000 is past 64 KiB)
  LoadRealModeCode(std::array<uint8_t, 12>{0xb8, 0x00, 0x10, 0x8e, 0xd8, 0xc6, 0x06, 0x00, 0xf0,
                                            0x5a, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* write = std::get_if<vcpu_exit::MmioWrite>(&exit);
  ASSERT_NE(write, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(write->address, 0x1f000u);
  ASSERT_EQ(write->data.size(), 1u);
  EXPECT_EQ(write->data[0], 0x5a);
}

TEST_F(VmTest, ExitRequestedBeforeRunReturnsAtOnce) {
  LoadRealModeCode(std::array<uint8_t, 2>{0xeb, 0xfe});  // jmp $
  vcpu_->RequestExit();
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  EXPECT_TRUE(std::holds_alternative<vcpu_exit::Interrupted>(exit)) << exit.index();
}

TEST_F(VmTest, ExitRequestFromAnotherThreadStopsASpinningGuest) {
  LoadRealModeCode(std::array<uint8_t, 2>{0xeb, 0xfe});  // jmp $: never exits by itself
  absl::StatusOr<VcpuExit> exit;
  std::thread runner([&] { exit = vcpu_->Run(); });
  // Keep asking until the runner is out: the first request may land before it enters KVM_RUN,
  // which the immediate_exit flag also covers.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  vcpu_->RequestExit();
  runner.join();
  ASSERT_OK(exit.status());
  EXPECT_TRUE(std::holds_alternative<vcpu_exit::Interrupted>(*exit)) << exit->index();
  // The request was consumed: the guest can be resumed and kicked again.
  std::thread again([&] { exit = vcpu_->Run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  vcpu_->RequestExit();
  again.join();
  EXPECT_TRUE(std::holds_alternative<vcpu_exit::Interrupted>(*exit));
}

// Exit requests hammered at threads that run once and are joined, one after another: each
// request signals a thread that is inside Run() or none at all, never one that has returned
// and been joined (whose pthread_t may already name a new thread, or nothing).
TEST_F(VmTest, ExitRequestsRacingRunnersThatEndAndAreJoined) {
  LoadRealModeCode(std::array<uint8_t, 2>{0xeb, 0xfe});  // jmp $
  std::atomic<bool> done{false};
  std::atomic<int> requests{0};
  std::thread kicker([&] {
    while (!done.load()) {
      vcpu_->RequestExit();
      requests.fetch_add(1);
      std::this_thread::yield();  // one CPU in the test VM: let the runners run
    }
  });
  int interrupted = 0;
  constexpr int kRunners = 40;
  for (int i = 0; i < kRunners; ++i) {
    absl::StatusOr<VcpuExit> exit;
    std::thread runner([&] { exit = vcpu_->Run(); });
    runner.join();
    ASSERT_OK(exit.status());
    interrupted += std::holds_alternative<vcpu_exit::Interrupted>(*exit) ? 1 : 0;
  }
  done = true;
  kicker.join();
  EXPECT_EQ(interrupted, kRunners);
  EXPECT_GE(requests.load(), kRunners);  // each interrupted run took a request of its own
}

// The moment RequestExit has chosen the thread to signal is held open (the test seam) while
// the guest is let go to exit on its own: Run() must not return, and its thread must not be
// joined, before the signal is sent, or the pthread_t signalled may name a thread that is
// gone. Before the fix RequestExit read the thread from an atomic without a lock, and Run()
// returned during the hold.
TEST_F(VmTest, RunDoesNotReturnWhileAnExitRequestIsSignallingIt) {
  // 0x1000: cmp byte [0x2000], 0 / je 0x1000 / out 0x10, al / jmp $
  LoadRealModeCode(std::array<uint8_t, 11>{0x80, 0x3e, 0x00, 0x20, 0x00, 0x74, 0xf9, 0xe6,
                                           0x10, 0xeb, 0xfe});
  constexpr uint64_t kReleaseFlag = 0x2000;
  ASSERT_OK(memory_->Write<uint8_t>(GuestAddress(kReleaseFlag), 0));
  std::atomic<int> runs_returned{0};
  std::atomic<bool> saw_port_write{false};
  std::thread runner([&] {
    // Early requests may interrupt a run before the guest is let go: run until it exits.
    while (!saw_port_write.load()) {
      absl::StatusOr<VcpuExit> exit = vcpu_->Run();
      runs_returned.fetch_add(1);
      if (!exit.ok()) return;
      if (std::holds_alternative<vcpu_exit::IoOut>(*exit)) saw_port_write = true;
    }
  });
  std::atomic<bool> hooked{false};
  bool returned_during_hold = false;
  vcpu_->SetBeforeKickHookForTest([&] {
    if (hooked.exchange(true)) return;
    int before = runs_returned.load();
    ASSERT_OK(memory_->Write<uint8_t>(GuestAddress(kReleaseFlag), 1));  // the guest exits
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline && runs_returned.load() == before) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    returned_during_hold = runs_returned.load() != before;
  });
  while (!hooked.load() && !saw_port_write.load()) {
    vcpu_->RequestExit();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // If the runner finished before any request chose it, the guest was let go some other way.
  ASSERT_TRUE(hooked.load()) << "no exit request found the runner inside Run()";
  runner.join();
  vcpu_->SetBeforeKickHookForTest(nullptr);
  EXPECT_FALSE(returned_during_hold) << "Run() returned while RequestExit was signalling it";
  EXPECT_TRUE(saw_port_write.load());
}

// Whether every page of [host, host + size) is mapped in this process.
bool IsMapped(void* host, uint64_t size) {
  std::vector<unsigned char> pages(size / ::sysconf(_SC_PAGESIZE));
  return ::mincore(host, size, pages.data()) == 0;  // ENOMEM where anything is unmapped
}

// Guest RAM stays mapped while the VM or any of its vCPUs (each pins the VM's memslots in
// the kernel) is alive, whichever order its owners drop it in: KVM never holds a slot over
// unmapped memory.
TEST(VmMemoryTest, GuestRamOutlivesTheVmAndItsVcpus) {
  ASSERT_OK_AND_ASSIGN(KvmSystem kvm, KvmSystem::Open());
  ASSERT_OK_AND_ASSIGN(Vm created, kvm.CreateVm());
  auto vm = std::make_unique<Vm>(std::move(created));
  ASSERT_OK(vm->CreateIrqchip());
  constexpr uint64_t kSize = 2 << 20;
  ASSERT_OK_AND_ASSIGN(GuestMemory memory, GuestMemory::Create(kSize));
  void* host = memory.regions()[0].host;
  auto shared = std::make_shared<GuestMemory>(std::move(memory));
  ASSERT_OK(vm->MapGuestMemory(shared));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Vcpu> vcpu, vm->CreateVcpu(0));

  shared.reset();  // the owner lets go first, as a struct declaring RAM before the VM did
  EXPECT_TRUE(IsMapped(host, kSize)) << "RAM unmapped while the VM holds it as a memslot";
  vm.reset();
  EXPECT_TRUE(IsMapped(host, kSize)) << "RAM unmapped while a vCPU keeps the VM's slots";
  vcpu.reset();
  EXPECT_FALSE(IsMapped(host, kSize)) << "RAM still mapped once everything is gone";
}

// Coalesced port writes: KVM queues them in the ring instead of exiting.
class CoalescedPioTest : public VmTest {
 protected:
  void SetUp() override {
    VmTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK_AND_ASSIGN(int pio, kvm().CheckExtension(KVM_CAP_COALESCED_PIO));
    if (pio == 0) GTEST_SKIP() << "KVM_CAP_COALESCED_PIO not offered";
    ASSERT_OK_AND_ASSIGN(int page_offset, kvm().CheckExtension(KVM_CAP_COALESCED_MMIO));
    ASSERT_OK_AND_ASSIGN(ring_, CoalescedIoRing::Map(*vcpu_, page_offset));
  }

  // The ring's writes, as {port, byte}; checks each is a 1-byte port write.
  std::vector<std::pair<uint64_t, uint8_t>> DrainRing() {
    std::vector<std::pair<uint64_t, uint8_t>> writes;
    ring_->Drain([&](const CoalescedIoRing::Write& write) {
      EXPECT_TRUE(write.pio);
      EXPECT_EQ(write.data.size(), 1u);
      writes.emplace_back(write.address, write.data[0]);
    });
    return writes;
  }

  std::unique_ptr<CoalescedIoRing> ring_;
};

TEST_F(CoalescedPioTest, WritesToTheZoneQueueInOrderUntilAnotherPortExits) {
  ASSERT_OK(vm_->RegisterCoalescedPio(0x10, 1));
  // mov al,1; out 0x10,al; mov al,2; out 0x10,al; mov al,3; out 0x10,al; out 0x11,al; jmp $
  LoadRealModeCode(std::array<uint8_t, 16>{0xb0, 0x01, 0xe6, 0x10, 0xb0, 0x02, 0xe6, 0x10, 0xb0,
                                            0x03, 0xe6, 0x10, 0xe6, 0x11, 0xeb, 0xfe});
  EXPECT_TRUE(ring_->Empty());
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(out->port, 0x11);
  EXPECT_FALSE(ring_->Empty());
  using Write = std::pair<uint64_t, uint8_t>;
  EXPECT_THAT(DrainRing(), ::testing::ElementsAre(Write{0x10, 1}, Write{0x10, 2}, Write{0x10, 3}));
  EXPECT_TRUE(ring_->Empty());
}

TEST_F(CoalescedPioTest, AFullRingMakesTheNextWriteExit) {
  ASSERT_OK(vm_->RegisterCoalescedPio(0x10, 1));
  // xor al,al; again: inc al; out 0x10,al; jmp again
  LoadRealModeCode(std::array<uint8_t, 8>{0x30, 0xc0, 0xfe, 0xc0, 0xe6, 0x10, 0xeb, 0xfa});
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(out->port, 0x10);
  // KVM keeps one slot free; the write that found no room is the exit, next in sequence.
  // Kernels before 6.12 computed the room with unsigned wrap-around and called the ring full
  // at 85 entries while `first` < 85 (fixed by 92f6d4130497): either is KVM's, nothing lost.
  std::vector<std::pair<uint64_t, uint8_t>> queued = DrainRing();
  ASSERT_GE(queued.size(), ring_->capacity() / 2);
  ASSERT_LE(queued.size(), ring_->capacity() - 1);
  for (size_t i = 0; i < queued.size(); ++i) {
    ASSERT_EQ(queued[i].second, static_cast<uint8_t>(i + 1)) << "entry " << i;
  }
  EXPECT_EQ(out->data[0], static_cast<uint8_t>(queued.size() + 1));
}

TEST_F(CoalescedPioTest, AnUnregisteredZoneExitsAgain) {
  ASSERT_OK(vm_->RegisterCoalescedPio(0x10, 1));
  ASSERT_OK(vm_->UnregisterCoalescedPio(0x10, 1));
  LoadRealModeCode(std::array<uint8_t, 6>{0xb0, 0x42, 0xe6, 0x10, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(out->port, 0x10);
  EXPECT_TRUE(ring_->Empty());
}

TEST_F(CoalescedPioTest, WiderWritesThanTheZoneStillExit) {
  ASSERT_OK(vm_->RegisterCoalescedPio(0x10, 1));
  // mov ax,0x4241; out 0x10,ax; jmp $
  LoadRealModeCode(std::array<uint8_t, 7>{0xb8, 0x41, 0x42, 0xe7, 0x10, 0xeb, 0xfe});
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(out->size, 2);
  EXPECT_TRUE(ring_->Empty());
}

// Ioeventfds on a virtio-mmio QueueNotify register: KVM signals the eventfd for the queue
// whose index the guest writes, without an exit.
class IoeventfdTest : public VmTest {
 protected:
  void SetUp() override {
    VmTest::SetUp();
    if (HasFatalFailure()) return;
    notifier_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    ASSERT_TRUE(notifier_.valid()) << "eventfd: errno " << errno;
  }

  // Real-mode code that writes `value` (4 bytes) to kNotifyAddress, then al to port 0x10.
  // The 0x66 prefix makes an instruction's operand 32-bit in real mode.
  void LoadNotifyCode(uint32_t value) {
    auto byte = [value](int i) { return static_cast<uint8_t>(value >> (8 * i)); };
    LoadRealModeCode(std::array<uint8_t, 19>{
        0xb8, 0x00, 0x10,                                // mov ax, 0x1000
        0x8e, 0xd8,                                      // mov ds, ax
        0x66, 0xb8, byte(0), byte(1), byte(2), byte(3),  // mov eax, value
        0x66, 0xa3, 0x50, 0xf0,                          // mov [0xf050], eax
        0xe6, 0x10,                                      // out 0x10, al
        0xeb, 0xfe,                                      // jmp $
    });
  }

  // The eventfd's counter, consumed; 0 when nothing signalled it (EFD_NONBLOCK: EAGAIN).
  uint64_t TakeNotifications() {
    uint64_t count = 0;
    if (::read(notifier_.get(), &count, sizeof(count)) != sizeof(count)) {
      EXPECT_EQ(errno, EAGAIN) << "read(eventfd)";
      return 0;
    }
    return count;
  }

  // 0x1000:0xf050, past the 64 KiB of RAM: QueueNotify (offset 0x50, virtio 1.2 4.2.2) of a
  // virtio-mmio window at 0x1f000.
  static constexpr uint64_t kNotifyAddress = 0x1f050;
  static constexpr uint64_t kQueueIndex = 1;
  UniqueFd notifier_;
};

TEST_F(IoeventfdTest, MatchingWriteSignalsTheEventfdWithoutAnExit) {
  ASSERT_OK(vm_->RegisterIoeventfd(notifier_.get(), GuestAddress(kNotifyAddress), 4, kQueueIndex));
  LoadNotifyCode(kQueueIndex);
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  EXPECT_EQ(TakeNotifications(), 1u);
  // The first exit is the port write after the notification, not the notification.
  const auto* out = std::get_if<vcpu_exit::IoOut>(&exit);
  ASSERT_NE(out, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(out->port, 0x10);
}

TEST_F(IoeventfdTest, OtherValueExitsAsMmioWrite) {
  ASSERT_OK(vm_->RegisterIoeventfd(notifier_.get(), GuestAddress(kNotifyAddress), 4, kQueueIndex));
  LoadNotifyCode(kQueueIndex + 1);
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  EXPECT_EQ(TakeNotifications(), 0u) << "another queue's index signalled the eventfd";
  const auto* write = std::get_if<vcpu_exit::MmioWrite>(&exit);
  ASSERT_NE(write, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(write->address, kNotifyAddress);
  EXPECT_THAT(write->data, ::testing::ElementsAre(kQueueIndex + 1, 0, 0, 0));
}

TEST_F(IoeventfdTest, UnregisteredAddressExitsAgain) {
  ASSERT_OK(vm_->RegisterIoeventfd(notifier_.get(), GuestAddress(kNotifyAddress), 4, kQueueIndex));
  ASSERT_OK(
      vm_->UnregisterIoeventfd(notifier_.get(), GuestAddress(kNotifyAddress), 4, kQueueIndex));
  LoadNotifyCode(kQueueIndex);
  ASSERT_OK_AND_ASSIGN(VcpuExit exit, vcpu_->Run());
  EXPECT_EQ(TakeNotifications(), 0u) << "an unregistered ioeventfd was signalled";
  const auto* write = std::get_if<vcpu_exit::MmioWrite>(&exit);
  ASSERT_NE(write, nullptr) << "exit index " << exit.index();
  EXPECT_EQ(write->address, kNotifyAddress);
  // Nothing is left to unregister: KVM's ENOENT, naming the ioctl and the address.
  EXPECT_THAT(
      vm_->UnregisterIoeventfd(notifier_.get(), GuestAddress(kNotifyAddress), 4, kQueueIndex),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("KVM_IOEVENTFD(deassign mmio 0x1f050")));
}

TEST_F(IoeventfdTest, BadLengthsAreInvalidArguments) {
  const GuestAddress address(kNotifyAddress);
  EXPECT_THAT(vm_->RegisterIoeventfd(notifier_.get(), address, 3, kQueueIndex),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("length 3")));
  EXPECT_THAT(vm_->RegisterIoeventfd(notifier_.get(), address, 16, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("length 16")));
  // Length 0 matches a write of any width, so there is no value to compare.
  EXPECT_THAT(vm_->RegisterIoeventfd(notifier_.get(), address, 0, kQueueIndex),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("datamatch")));
  // KVM would take it and never match: a 1-byte write cannot hold 0x100.
  EXPECT_THAT(vm_->RegisterIoeventfd(notifier_.get(), address, 1, 0x100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("datamatch 0x100")));
  EXPECT_THAT(vm_->UnregisterIoeventfd(notifier_.get(), address, 5, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("length 5")));
}

}  // namespace
}  // namespace vmmd
