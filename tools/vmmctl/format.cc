#include "tools/vmmctl/format.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace vmmctl {
namespace {

// Rows of "key  value", keys padded to the widest; a row with an empty key continues the
// previous one (the e820 map).
class KeyValueTable {
 public:
  void Add(std::string key, std::string value) { rows_.emplace_back(std::move(key), std::move(value)); }

  std::string Render() const {
    size_t width = 0;
    for (const auto& row : rows_) width = std::max(width, row.first.size());
    std::string text;
    for (const auto& [key, value] : rows_) {
      absl::StrAppend(&text, key, std::string(width - key.size() + 2, ' '), value, "\n");
    }
    return text;
  }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// Columns separated by two spaces; the last column is not padded.
std::string RenderColumns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&text, row[i]);
      if (i + 1 < row.size()) absl::StrAppend(&text, std::string(widths[i] - row[i].size() + 2, ' '));
    }
    absl::StrAppend(&text, "\n");
  }
  return text;
}

std::string Hex(uint64_t value) { return absl::StrFormat("0x%x", value); }

// "0x20000 (24 bytes)".
std::string HexWithSize(uint64_t address, uint64_t size) {
  return absl::StrFormat("0x%x (%d bytes)", address, size);
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string E820TypeName(uint32_t type) {
  // ACPI 6.x, table 15-312 "Address Range Types"; the names are the kernel's (e820.c).
  switch (type) {
    case 1:
      return "usable";
    case 2:
      return "reserved";
    case 3:
      return "ACPI data";
    case 4:
      return "ACPI NVS";
    case 5:
      return "unusable";
    default:
      return absl::StrCat("type ", type);
  }
}

void AddBootInfoRows(const vmm::v1::BootInfo& info, KeyValueTable& table) {
  table.Add("kernel", OrDash(info.kernel_path()));
  if (!info.kernel_format().empty() || !info.boot_protocol().empty()) {
    table.Add("format / protocol", absl::StrCat(OrDash(info.kernel_format()), " / ",
                                                OrDash(info.boot_protocol())));
  }
  table.Add("cmdline", absl::StrCat("\"", absl::CEscape(info.cmdline()), "\""));
  table.Add("entry point", Hex(info.entry_point()));
  if (info.boot_protocol() == "pvh") {
    table.Add("start info", Hex(info.start_info_address()));
  } else {
    table.Add("zero page", Hex(info.zero_page_address()));
  }
  table.Add("cmdline address", HexWithSize(info.cmdline_address(), info.cmdline_size()));
  table.Add("initrd", info.initrd_size() == 0 ? "none"
                                              : HexWithSize(info.initrd_address(), info.initrd_size()));
  table.Add("mp table", HexWithSize(info.mp_table_address(), info.mp_table_size()));
  if (info.boot_protocol() != "pvh") {
    table.Add("page tables", absl::StrFormat("0x%x (identity map of 0x%x bytes)",
                                             info.page_table_address(), info.identity_mapped_bytes()));
  }
  if (info.e820_size() == 0) {
    table.Add("e820", "none");
    return;
  }
  for (int i = 0; i < info.e820_size(); ++i) {
    table.Add(i == 0 ? "e820" : "", FormatE820Entry(info.e820(i)));
  }
}

}  // namespace

std::string StateName(vmm::v1::VmState state) {
  absl::string_view name = vmm::v1::VmState_Name(state);
  if (name.empty()) return absl::StrCat("state ", static_cast<int>(state));
  absl::ConsumePrefix(&name, "VM_STATE_");
  return absl::AsciiStrToLower(name);
}

std::string FormatE820Entry(const vmm::v1::E820Entry& entry) {
  // An empty entry has no last byte; show it as ending where it starts.
  const uint64_t last = entry.size() == 0 ? entry.address() : entry.address() + (entry.size() - 1);
  return absl::StrFormat("[mem 0x%016x-0x%016x] %s", entry.address(), last,
                         E820TypeName(entry.type()));
}

std::string FormatVm(const vmm::v1::Vm& vm) {
  KeyValueTable table;
  table.Add("id", vm.vm_id());
  table.Add("state", StateName(vm.state()));
  table.Add("vcpus", absl::StrCat(vm.vcpu_count()));
  table.Add("memory", absl::StrCat(vm.memory_mib(), " MiB"));
  table.Add("exit reason", OrDash(vm.exit_reason()));
  table.Add("console bytes", absl::StrCat(vm.console_bytes()));
  table.Add("unhandled io", absl::StrCat(vm.unhandled_io_count()));
  table.Add("unhandled mmio", absl::StrCat(vm.unhandled_mmio_count()));
  if (vm.has_boot_info()) AddBootInfoRows(vm.boot_info(), table);
  return table.Render();
}

std::string FormatBootInfo(const vmm::v1::BootInfo& info) {
  KeyValueTable table;
  AddBootInfoRows(info, table);
  return table.Render();
}

std::string FormatVmList(const vmm::v1::ListVmsResponse& list) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "VCPUS", "MEMORY", "CONSOLE", "UNHANDLED IO/MMIO", "EXIT REASON"}};
  for (const vmm::v1::Vm& vm : list.vms()) {
    rows.push_back({vm.vm_id(), StateName(vm.state()), absl::StrCat(vm.vcpu_count()),
                    absl::StrCat(vm.memory_mib(), " MiB"), absl::StrCat(vm.console_bytes()),
                    absl::StrCat(vm.unhandled_io_count(), "/", vm.unhandled_mmio_count()),
                    OrDash(vm.exit_reason())});
  }
  return RenderColumns(rows);
}

std::string FormatVmEvent(const vmm::v1::VmEvent& event) {
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                                            absl::FromUnixNanos(event.timestamp_unix_nanos()),
                                            absl::UTCTimeZone());
  return absl::StrCat(time, "  ", event.vm_id(), "  #", event.sequence(), "  ",
                      StateName(event.state()), "  ", OrDash(event.reason()), "\n");
}

std::string FormatStateLine(const vmm::v1::Vm& vm) {
  std::string line = absl::StrCat(vm.vm_id(), ": ", StateName(vm.state()));
  if (!vm.exit_reason().empty()) absl::StrAppend(&line, " (", vm.exit_reason(), ")");
  return absl::StrCat(line, "\n");
}

}  // namespace vmmctl
