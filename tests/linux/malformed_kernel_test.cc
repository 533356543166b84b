// Debian's real kernel images, damaged one way at a time, handed to the real vmmd: each is
// refused by ConfigureBoot with INVALID_ARGUMENT naming what is wrong, the VM stays CREATED
// and bootable, and the daemon keeps serving (tag: requires-kvm).
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/linux/kernel_test.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;

std::vector<char> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

template <typename T>
void Poke(std::vector<char>& image, size_t offset, T value) {
  std::memcpy(image.data() + offset, &value, sizeof(T));
}

struct Damage {
  std::string name;
  std::string base;  // "vmlinux" or "vmlinuz-generic"
  std::function<void(std::vector<char>&)> apply;
  std::string message;  // what the error must say
};

// The damaged images go into the daemon's own image root, beside the hello guest.
class MalformedKernelTest : public ::vmmd::testing::KernelTest {
 protected:
  MalformedKernelTest() : KernelTest({"tests/guest/hello_guest.elf"}) {}
};

TEST_F(MalformedKernelTest, EachDamageIsRefusedAndTheDaemonKeepsServing) {
  // Offsets: ELF header (e_ident[EI_CLASS] at 4, e_machine at 18, e_phoff at 32); bzImage
  // setup header (Documentation/arch/x86/boot.rst): setup_sects 0x1f1, boot_flag 0x1fe,
  // "HdrS" 0x202, version 0x206, xloadflags 0x236.
  const std::vector<Damage> damages = {
      {"truncated-vmlinux", "vmlinux", [](auto& i) { i.resize(4 << 20); }, "beyond"},
      {"vmlinux-bad-magic", "vmlinux", [](auto& i) { i[1] = 'X'; }, "neither an ELF vmlinux nor a bzImage"},
      {"vmlinux-32-bit", "vmlinux", [](auto& i) { i[4] = 1; }, "64-bit"},
      {"vmlinux-arm64", "vmlinux", [](auto& i) { Poke<uint16_t>(i, 18, 183); }, "x86_64"},
      {"vmlinux-lost-headers", "vmlinux", [](auto& i) { Poke<uint64_t>(i, 32, 1ull << 40); }, "truncated"},
      {"bzimage-truncated", "vmlinuz-generic", [](auto& i) { i.resize(0x240); }, "too short"},
      {"bzimage-only-setup", "vmlinuz-generic", [](auto& i) { i.resize((i[0x1f1] + 1) * 512); }, "nothing follows"},
      {"bzimage-old-protocol", "vmlinuz-generic", [](auto& i) { Poke<uint16_t>(i, 0x206, 0x0200); }, "too old"},
      {"bzimage-no-64-bit-entry", "vmlinuz-generic", [](auto& i) { Poke<uint16_t>(i, 0x236, 0); }, "XLF_KERNEL_64"},
      {"bzimage-absurd-setup", "vmlinuz-generic", [](auto& i) { i[0x1f1] = static_cast<char>(200); }, "setup_sects"},
      {"bzimage-bad-boot-flag", "vmlinuz-generic", [](auto& i) { Poke<uint16_t>(i, 0x1fe, 0x1234); }, "neither"},
      {"empty", "vmlinux", [](auto& i) { i.clear(); }, "too short"},
  };
  std::map<std::string, std::vector<char>> bases;
  for (const char* base : {"vmlinux", "vmlinuz-generic"}) {
    bases[base] = ReadAll(cache_ + "/" + base);
    ASSERT_GT(bases[base].size(), 1u << 20) << "missing kernel " << base << " in " << cache_;
  }

  vmm::v1::CreateVmRequest create;
  create.set_vm_id("victim");
  create.set_vcpu_count(1);
  create.set_memory_mib(256);
  vmm::v1::Vm vm;
  grpc::ClientContext create_context;
  ASSERT_TRUE(stub_->CreateVm(&create_context, create, &vm).ok());

  for (const Damage& damage : damages) {
    std::vector<char> image = bases[damage.base];
    damage.apply(image);
    const std::string path = daemon_->image_root() + "/" + damage.name;
    std::ofstream(path, std::ios::binary).write(image.data(), image.size());

    grpc::ClientContext context;
    vmm::v1::ConfigureBootRequest configure;
    configure.set_vm_id("victim");
    configure.set_kernel_path(path);
    configure.set_cmdline("console=ttyS0");
    vmm::v1::BootInfo info;
    grpc::Status status = stub_->ConfigureBoot(&context, configure, &info);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << damage.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(damage.message)) << damage.name;
  }

  // Still CREATED, still bootable, and the daemon still serves.
  grpc::ClientContext get_context;
  vmm::v1::GetVmRequest get;
  get.set_vm_id("victim");
  ASSERT_TRUE(stub_->GetVm(&get_context, get, &vm).ok());
  EXPECT_EQ(vm.state(), vmm::v1::VM_STATE_CREATED);
  grpc::ClientContext configure_context;
  vmm::v1::ConfigureBootRequest good;
  good.set_vm_id("victim");
  good.set_kernel_path(daemon_->ImagePath("hello_guest.elf"));
  vmm::v1::BootInfo info;
  grpc::Status status = stub_->ConfigureBoot(&configure_context, good, &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(daemon_->ThreadCount(), 0) << "vmmd is alive";
}

}  // namespace
}  // namespace vmmd
