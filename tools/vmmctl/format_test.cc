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

// Two drives and the entropy device, as vmmd places them.
void AddSampleDevices(vmm::v1::BootInfo& info) {
  auto add = [&](const char* id, const char* kind, uint64_t address, uint32_t irq) {
    vmm::v1::DeviceInfo* device = info.add_devices();
    device->set_id(id);
    device->set_kind(kind);
    device->set_mmio_address(address);
    device->set_mmio_size(0x1000);
    device->set_irq(irq);
  };
  add("drive0", "virtio-blk", 0xd0000000, 5);
  add("data", "virtio-blk", 0xd0001000, 6);
  add("rng", "virtio-rng", 0xd0002000, 7);
}

// What the devices above have done: drive0 is busy, the others less so.
void AddSampleCounters(vmm::v1::Vm& vm) {
  auto add = [&](const char* id, const char* kind, uint64_t requests, uint64_t read,
                 uint64_t written, uint64_t errors) {
    vmm::v1::DeviceCounters* device = vm.add_devices();
    device->set_id(id);
    device->set_kind(kind);
    device->set_requests(requests);
    device->set_bytes_read(read);
    device->set_bytes_written(written);
    device->set_errors(errors);
    device->set_notifications(requests + 1);
    device->set_interrupts(requests);
  };
  add("drive0", "virtio-blk", 120, 491520, 4096, 1);
  add("data", "virtio-blk", 3, 1536, 0, 0);
  add("rng", "virtio-rng", 2, 64, 0, 0);
}

void AddSampleDrives(vmm::v1::Vm& vm) {
  vmm::v1::Drive* root = vm.add_drives();
  root->set_drive_id("drive0");
  root->set_path("/srv/images/rootfs.ext4");
  root->set_read_only(true);
  root->set_is_root_device(true);
  vmm::v1::Drive* data = vm.add_drives();
  data->set_drive_id("data");
  data->set_path("/srv/images/data.img");
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
      "acpi             off",
      "e820             [mem 0x0000000000000000-0x000000000009fbff] usable",
      "                 [mem 0x000000000009fc00-0x00000000000fffff] reserved",
      "                 [mem 0x0000000000100000-0x0000000007ffffff] usable",
  };
  EXPECT_EQ(lines, expected);
}

TEST(FormatBootInfoTest, DevicesWithWindowAndIrqBeforeTheE820Map) {
  vmm::v1::BootInfo info = SampleBootInfo();
  AddSampleDevices(info);
  const std::vector<std::string> lines = Lines(FormatBootInfo(info));
  const std::vector<std::string> expected = {
      "kernel           /srv/images/vmlinux",
      "cmdline          \"console=ttyS0\"",
      "entry point      0x1000000",
      "zero page        0x7000",
      "cmdline address  0x20000 (14 bytes)",
      "initrd           0x5e00000 (4096 bytes)",
      "mp table         0x9fc00 (304 bytes)",
      "page tables      0x9000 (identity map of 0x100000000 bytes)",
      "acpi             off",
      "devices          drive0  virtio-blk  mmio 0xd0000000 (4096 bytes)  irq 5",
      "                 data    virtio-blk  mmio 0xd0001000 (4096 bytes)  irq 6",
      "                 rng     virtio-rng  mmio 0xd0002000 (4096 bytes)  irq 7",
      "e820             [mem 0x0000000000000000-0x000000000009fbff] usable",
      "                 [mem 0x000000000009fc00-0x00000000000fffff] reserved",
      "                 [mem 0x0000000000100000-0x0000000007ffffff] usable",
  };
  EXPECT_EQ(lines, expected);
}

TEST(FormatBootInfoTest, AcpiTablesOneALine) {
  vmm::v1::BootInfo info = SampleBootInfo();
  info.set_acpi_rsdp_address(0xe0000);
  vmm::v1::AcpiTable* rsdp = info.add_acpi_tables();
  rsdp->set_signature("RSDP");
  rsdp->set_address(0xe0000);
  rsdp->set_length(36);
  vmm::v1::AcpiTable* dsdt = info.add_acpi_tables();
  dsdt->set_signature("DSDT");
  dsdt->set_address(0xe0028);
  dsdt->set_length(187);
  const std::vector<std::string> lines = Lines(FormatBootInfo(info));
  EXPECT_THAT(lines, Contains("acpi             RSDP 0xe0000 (36 bytes)"));
  EXPECT_THAT(lines, Contains("                 DSDT 0xe0028 (187 bytes)"));
  EXPECT_THAT(lines, Not(Contains("acpi             off")));
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
      "drives          none",
      "entropy device  no",
      "exit reason     guest reset",
      "console bytes   1234",
      "unhandled io    3",
      "unhandled mmio  1",
  };
  EXPECT_EQ(Lines(text), expected);
  EXPECT_THAT(text, Not(HasSubstr("e820")));
  EXPECT_THAT(text, Not(HasSubstr("devices")));
}

TEST(FormatVmTest, DrivesAndDevicesBeforeConfiguring) {
  // Created, not yet configured: the counters are there, the addresses not yet.
  vmm::v1::Vm vm = SampleVm();
  vm.set_state(vmm::v1::VM_STATE_CREATED);
  vm.clear_exit_reason();
  AddSampleDrives(vm);
  vm.set_entropy_device(true);
  AddSampleCounters(vm);
  const std::vector<std::string> expected = {
      "id              web-1",
      "state           created",
      "vcpus           2",
      "memory          128 MiB",
      "drives          drive0  /srv/images/rootfs.ext4  ro, root",
      "                data    /srv/images/data.img     rw",
      "entropy device  yes",
      "exit reason     -",
      "console bytes   1234",
      "unhandled io    3",
      "unhandled mmio  1",
      "devices         drive0  virtio-blk  mmio -  irq -  requests 120  read 491520 B  "
      "written 4096 B  errors 1",
      "                data    virtio-blk  mmio -  irq -  requests 3    read 1536 B    "
      "written 0 B     errors 0",
      "                rng     virtio-rng  mmio -  irq -  requests 2    read 64 B      "
      "written 0 B     errors 0",
  };
  EXPECT_EQ(Lines(FormatVm(vm)), expected);
}

TEST(FormatVmTest, ConfiguredVmDevicesTakeAddressAndIrqFromTheBootInfo) {
  vmm::v1::Vm vm = SampleVm();
  AddSampleDrives(vm);
  vm.set_entropy_device(true);
  AddSampleCounters(vm);
  *vm.mutable_boot_info() = SampleBootInfo();
  AddSampleDevices(*vm.mutable_boot_info());
  const std::string text = FormatVm(vm);
  const std::vector<std::string> lines = Lines(text);
  EXPECT_THAT(lines, Contains("devices          drive0  virtio-blk  mmio 0xd0000000  irq 5  "
                              "requests 120  read 491520 B  written 4096 B  errors 1"));
  EXPECT_THAT(lines, Contains("                 data    virtio-blk  mmio 0xd0001000  irq 6  "
                              "requests 3    read 1536 B    written 0 B     errors 0"));
  EXPECT_THAT(lines, Contains("                 rng     virtio-rng  mmio 0xd0002000  irq 7  "
                              "requests 2    read 64 B      written 0 B     errors 0"));
  EXPECT_THAT(lines, Contains("drives           drive0  /srv/images/rootfs.ext4  ro, root"));
  // Listed once, with their counters: not again among the boot info's rows.
  EXPECT_THAT(text, Not(HasSubstr("(4096 bytes)  irq")));
  size_t count = 0;
  for (const std::string& line : lines) count += line.rfind("devices ", 0) == 0 ? 1 : 0;
  EXPECT_EQ(count, 1u);
}

TEST(FormatVmTest, RefusedAccessesAndResetsOnlyWhenNonzero) {
  vmm::v1::Vm vm = SampleVm();
  AddSampleCounters(vm);
  vm.mutable_devices(1)->set_refused_accesses(4);
  vm.mutable_devices(1)->set_needs_reset(1);
  const std::vector<std::string> lines = Lines(FormatVm(vm));
  EXPECT_THAT(lines, Contains("                data    virtio-blk  mmio -  irq -  requests 3    "
                              "read 1536 B    written 0 B     errors 0  refused accesses 4  "
                              "needs reset 1"));
  EXPECT_THAT(lines, Contains("                rng     virtio-rng  mmio -  irq -  requests 2    "
                              "read 64 B      written 0 B     errors 0"));
}

TEST(FormatVmTest, DeviceOnlyInTheBootInfoStillListed) {
  vmm::v1::Vm vm = SampleVm();
  *vm.mutable_boot_info() = SampleBootInfo();
  AddSampleDevices(*vm.mutable_boot_info());
  const std::vector<std::string> lines = Lines(FormatVm(vm));
  EXPECT_THAT(lines, Contains("devices          drive0  virtio-blk  mmio 0xd0000000  irq 5"));
  EXPECT_THAT(lines, Contains("                 rng     virtio-rng  mmio 0xd0002000  irq 7"));
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
  AddSampleDrives(*second);
  second->set_entropy_device(true);
  const std::vector<std::string> expected = {
      "ID     STATE    VCPUS  MEMORY    DEVICES         CONSOLE  UNHANDLED IO/MMIO  EXIT REASON",
      "web-1  stopped  2      128 MiB   -               1234     3/1                guest reset",
      "b      created  16     4096 MiB  2 drives + rng  0        0/0                -",
  };
  EXPECT_EQ(Lines(FormatVmList(list)), expected);
}

TEST(FormatVmListTest, EmptyListIsJustTheHeader) {
  EXPECT_EQ(FormatVmList(vmm::v1::ListVmsResponse()),
            "ID  STATE  VCPUS  MEMORY  DEVICES  CONSOLE  UNHANDLED IO/MMIO  EXIT REASON\n");
}

TEST(FormatDeviceSummaryTest, DrivesAndRng) {
  vmm::v1::Vm vm;
  EXPECT_EQ(FormatDeviceSummary(vm), "-");
  vm.set_entropy_device(true);
  EXPECT_EQ(FormatDeviceSummary(vm), "rng");
  vm.add_drives()->set_drive_id("drive0");
  EXPECT_EQ(FormatDeviceSummary(vm), "1 drive + rng");
  vm.set_entropy_device(false);
  EXPECT_EQ(FormatDeviceSummary(vm), "1 drive");
  vm.add_drives()->set_drive_id("drive1");
  EXPECT_EQ(FormatDeviceSummary(vm), "2 drives");
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

TEST(JsonTest, DrivesAndDevices) {
  vmm::v1::Vm vm = SampleVm();
  AddSampleDrives(vm);
  vm.set_entropy_device(true);
  AddSampleCounters(vm);
  *vm.mutable_boot_info() = SampleBootInfo();
  AddSampleDevices(*vm.mutable_boot_info());
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(vm));
  EXPECT_THAT(json, HasSubstr("\"drives\":[{\"drive_id\":\"drive0\",\"path\":"
                              "\"/srv/images/rootfs.ext4\",\"read_only\":true,"
                              "\"is_root_device\":true},"));
  EXPECT_THAT(json, HasSubstr("\"entropy_device\":true"));
  EXPECT_THAT(json, HasSubstr("{\"id\":\"drive0\",\"kind\":\"virtio-blk\",\"requests\":\"120\""));
  EXPECT_THAT(json, HasSubstr("{\"id\":\"rng\",\"kind\":\"virtio-rng\",\"mmio_address\":"
                              "\"3489669120\",\"mmio_size\":\"4096\",\"irq\":7}"));
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
