#include "tools/vmmctl/format.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/vmmctl/json.h"
#include "tools/vmmctl/rpc_error.h"

namespace vmmctl {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// What vmmd reports for a 128 MiB guest with an initrd.
vmm::v1::BootInfo SampleBootInfo() {
  vmm::v1::BootInfo info;
  info.set_entry_point(0x1000000);
  info.set_zero_page_address(0x7000);
  info.set_cmdline_address(0x20000);
  info.set_cmdline_size(14);
  info.set_initrd_address(0x5e00000);
  info.set_initrd_size(4096);
  info.set_mp_table_address(0x9fc00);
  info.set_mp_table_size(0x130);
  info.set_page_table_address(0x9000);
  info.set_identity_mapped_bytes(0x100000000);
  info.set_kernel_path("/srv/images/vmlinux");
  info.set_cmdline("console=ttyS0");
  auto add = [&](uint64_t address, uint64_t size, uint32_t type) {
    vmm::v1::E820Entry* entry = info.add_e820();
    entry->set_address(address);
    entry->set_size(size);
    entry->set_type(type);
  };
  add(0, 0x9fc00, 1);
  add(0x9fc00, 0x60400, 2);
  add(0x100000, 0x7f00000, 1);
  return info;
}

vmm::v1::Vm SampleVm() {
  vmm::v1::Vm vm;
  vm.set_vm_id("web-1");
  vm.set_state(vmm::v1::VM_STATE_STOPPED);
  vm.set_vcpu_count(2);
  vm.set_memory_mib(128);
  vm.set_exit_reason("guest reset");
  vm.set_unhandled_io_count(3);
  vm.set_unhandled_mmio_count(1);
  vm.set_console_bytes(1234);
  return vm;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(FormatE820EntryTest, KernelStyleRanges) {
  vmm::v1::E820Entry entry;
  entry.set_address(0);
  entry.set_size(0x9fc00);
  entry.set_type(1);
  EXPECT_EQ(FormatE820Entry(entry), "[mem 0x0000000000000000-0x000000000009fbff] usable");
  entry.set_address(0x9fc00);
  entry.set_size(0x60400);
  entry.set_type(2);
  EXPECT_EQ(FormatE820Entry(entry), "[mem 0x000000000009fc00-0x00000000000fffff] reserved");
  entry.set_type(9);
  EXPECT_THAT(FormatE820Entry(entry), HasSubstr("] type 9"));
}

TEST(FormatBootInfoTest, ExactLines) {
  const std::vector<std::string> lines = Lines(FormatBootInfo(SampleBootInfo()));
  const std::vector<std::string> expected = {
      "kernel           /srv/images/vmlinux",
      "cmdline          \"console=ttyS0\"",
      "entry point      0x1000000",
      "zero page        0x7000",
      "cmdline address  0x20000 (14 bytes)",
      "initrd           0x5e00000 (4096 bytes)",
      "mp table         0x9fc00 (304 bytes)",
      "page tables      0x9000 (identity map of 0x100000000 bytes)",
      "e820             [mem 0x0000000000000000-0x000000000009fbff] usable",
      "                 [mem 0x000000000009fc00-0x00000000000fffff] reserved",
      "                 [mem 0x0000000000100000-0x0000000007ffffff] usable",
  };
  EXPECT_EQ(lines, expected);
}

TEST(FormatBootInfoTest, NoInitrd) {
  vmm::v1::BootInfo info = SampleBootInfo();
  info.set_initrd_address(0);
  info.set_initrd_size(0);
  EXPECT_THAT(Lines(FormatBootInfo(info)), Contains("initrd           none"));
}

TEST(FormatVmTest, TableWithoutBootInfo) {
  const std::string text = FormatVm(SampleVm());
  const std::vector<std::string> expected = {
      "id              web-1",
      "state           stopped",
      "vcpus           2",
      "memory          128 MiB",
      "exit reason     guest reset",
      "console bytes   1234",
      "unhandled io    3",
      "unhandled mmio  1",
  };
  EXPECT_EQ(Lines(text), expected);
  EXPECT_THAT(text, Not(HasSubstr("e820")));
}

TEST(FormatVmTest, ConfiguredVmShowsBootInfoAlignedWithTheRest) {
  vmm::v1::Vm vm = SampleVm();
  vm.set_state(vmm::v1::VM_STATE_RUNNING);
  vm.clear_exit_reason();
  *vm.mutable_boot_info() = SampleBootInfo();
  const std::vector<std::string> lines = Lines(FormatVm(vm));
  EXPECT_THAT(lines, Contains("id               web-1"));
  EXPECT_THAT(lines, Contains("state            running"));
  EXPECT_THAT(lines, Contains("exit reason      -"));
  EXPECT_THAT(lines, Contains("entry point      0x1000000"));
  EXPECT_THAT(lines, Contains("e820             [mem 0x0000000000000000-0x000000000009fbff] usable"));
  EXPECT_THAT(lines, Contains("                 [mem 0x0000000000100000-0x0000000007ffffff] usable"));
}

TEST(FormatVmListTest, HeaderAndOneRowPerVm) {
  vmm::v1::ListVmsResponse list;
  *list.add_vms() = SampleVm();
  vmm::v1::Vm* second = list.add_vms();
  second->set_vm_id("b");
  second->set_state(vmm::v1::VM_STATE_CREATED);
  second->set_vcpu_count(16);
  second->set_memory_mib(4096);
  const std::vector<std::string> expected = {
      "ID     STATE    VCPUS  MEMORY    CONSOLE  UNHANDLED IO/MMIO  EXIT REASON",
      "web-1  stopped  2      128 MiB   1234     3/1                guest reset",
      "b      created  16     4096 MiB  0        0/0                -",
  };
  EXPECT_EQ(Lines(FormatVmList(list)), expected);
}

TEST(FormatVmListTest, EmptyListIsJustTheHeader) {
  EXPECT_EQ(FormatVmList(vmm::v1::ListVmsResponse()),
            "ID  STATE  VCPUS  MEMORY  CONSOLE  UNHANDLED IO/MMIO  EXIT REASON\n");
}

TEST(FormatVmEventTest, OneLineWithUtcTime) {
  vmm::v1::VmEvent event;
  event.set_vm_id("web-1");
  event.set_state(vmm::v1::VM_STATE_STOPPED);
  event.set_reason("triple fault");
  event.set_sequence(4);
  event.set_timestamp_unix_nanos(1700000000123456789);
  EXPECT_EQ(FormatVmEvent(event), "2023-11-14T22:13:20.123456Z  web-1  #4  stopped  triple fault\n");
}

TEST(FormatStateLineTest, WithAndWithoutExitReason) {
  vmm::v1::Vm vm = SampleVm();
  EXPECT_EQ(FormatStateLine(vm), "web-1: stopped (guest reset)\n");
  vm.set_state(vmm::v1::VM_STATE_PAUSED);
  vm.clear_exit_reason();
  EXPECT_EQ(FormatStateLine(vm), "web-1: paused\n");
}

TEST(StateNameTest, Names) {
  EXPECT_EQ(StateName(vmm::v1::VM_STATE_CONFIGURED), "configured");
  EXPECT_EQ(StateName(vmm::v1::VM_STATE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(StateName(static_cast<vmm::v1::VmState>(42)), "state 42");
}

TEST(JsonTest, VmUsesProtoNamesAndPrintsZeros) {
  vmm::v1::Vm vm = SampleVm();
  vm.set_unhandled_mmio_count(0);
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(vm));
  EXPECT_THAT(json, HasSubstr("\"vm_id\":\"web-1\""));
  EXPECT_THAT(json, HasSubstr("\"state\":\"VM_STATE_STOPPED\""));
  EXPECT_THAT(json, HasSubstr("\"vcpu_count\":2"));
  EXPECT_THAT(json, HasSubstr("\"memory_mib\":\"128\""));  // uint64: a string in proto3 JSON
  EXPECT_THAT(json, HasSubstr("\"exit_reason\":\"guest reset\""));
  EXPECT_THAT(json, HasSubstr("\"unhandled_mmio_count\":\"0\""));
  EXPECT_THAT(json, Not(HasSubstr("vmId")));
  EXPECT_THAT(json, Not(HasSubstr("\n")));
}

TEST(JsonTest, BootInfoE820) {
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(SampleBootInfo()));
  EXPECT_THAT(json, HasSubstr("\"entry_point\":\"16777216\""));
  EXPECT_THAT(json, HasSubstr("\"e820\":[{\"address\":\"0\",\"size\":\"654336\",\"type\":1}"));
  EXPECT_THAT(json, HasSubstr("\"kernel_path\":\"/srv/images/vmlinux\""));
}

TEST(JsonTest, ListVmsResponse) {
  vmm::v1::ListVmsResponse list;
  ASSERT_OK_AND_ASSIGN(std::string empty, ToJson(list));
  EXPECT_EQ(empty, "{\"vms\":[]}");
  *list.add_vms() = SampleVm();
  ASSERT_OK_AND_ASSIGN(std::string one, ToJson(list));
  EXPECT_THAT(one, HasSubstr("{\"vms\":[{\"vm_id\":\"web-1\""));
}

TEST(RpcErrorTest, CodeNamesAndLine) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::FAILED_PRECONDITION), "FAILED_PRECONDITION");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(99), "CODE_99");
  EXPECT_EQ(FormatRpcError("GetVm", grpc::Status(grpc::StatusCode::NOT_FOUND, "no VM x")),
            "vmmctl: GetVm: NOT_FOUND: no VM x\n");
}

}  // namespace
}  // namespace vmmctl
