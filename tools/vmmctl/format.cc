#include "tools/vmmctl/format.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace vmmctl {
namespace {

// Rows of "key  value", keys padded to the widest; a row with an empty key continues the
// previous one (the e820 map, the drives, the devices).
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

// Columns separated by two spaces, one line per row (without '\n'); a row's last column is
// not padded, and rows may have fewer columns than others.
std::vector<std::string> ColumnLines(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::vector<std::string> lines;
  for (const auto& row : rows) {
    std::string& line = lines.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) absl::StrAppend(&line, std::string(widths[i] - row[i].size() + 2, ' '));
    }
  }
  return lines;
}

std::string RenderColumns(const std::vector<std::vector<std::string>>& rows) {
  std::string text;
  for (const std::string& line : ColumnLines(rows)) absl::StrAppend(&text, line, "\n");
  return text;
}

// `rows` as aligned columns under one key of `table`: "drives  drive0  /a.img  ro".
void AddColumnRows(absl::string_view key, const std::vector<std::vector<std::string>>& rows,
                   KeyValueTable& table) {
  const std::vector<std::string> lines = ColumnLines(rows);
  for (size_t i = 0; i < lines.size(); ++i) table.Add(i == 0 ? std::string(key) : "", lines[i]);
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

const vmm::v1::DeviceInfo* FindDeviceInfo(const vmm::v1::BootInfo& info, const std::string& id) {
  for (const vmm::v1::DeviceInfo& device : info.devices()) {
    if (device.id() == id) return &device;
  }
  return nullptr;
}

// "drive0  virtio-blk  mmio 0xd0000000  irq 5"; dashes when `where` is null (a VM not yet
// configured has not been told where its devices are).
std::vector<std::string> DeviceCells(const std::string& id, const std::string& kind,
                                     const vmm::v1::DeviceInfo* where) {
  if (where == nullptr) return {id, OrDash(kind), "mmio -", "irq -"};
  return {id, OrDash(kind), absl::StrCat("mmio ", Hex(where->mmio_address())),
          absl::StrCat("irq ", where->irq())};
}

// The drives as created: "drive0  /srv/images/root.img  ro, root".
void AddDriveRows(const vmm::v1::Vm& vm, KeyValueTable& table) {
  if (vm.drives_size() == 0) {
    table.Add("drives", "none");
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const vmm::v1::Drive& drive : vm.drives()) {
    std::string options = drive.read_only() ? "ro" : "rw";
    if (drive.is_root_device()) absl::StrAppend(&options, ", root");
    rows.push_back({drive.drive_id(), drive.path(), options});
  }
  AddColumnRows("drives", rows, table);
}

void AddNetworkRows(const vmm::v1::Vm& vm, KeyValueTable& table) {
  if (vm.network_interfaces_size() == 0) return;
  std::vector<std::vector<std::string>> rows;
  for (const vmm::v1::NetworkInterface& interface : vm.network_interfaces()) {
    rows.push_back({interface.iface_id(), interface.host_dev_name(), interface.guest_mac()});
  }
  AddColumnRows("network", rows, table);
}

// One line per device: where it is (from the boot info, once configured) and what it has
// done. Refused accesses and resets, which a working driver never causes, only when nonzero.
void AddDeviceRows(const vmm::v1::Vm& vm, KeyValueTable& table) {
  std::vector<std::vector<std::string>> rows;
  for (const vmm::v1::DeviceCounters& device : vm.devices()) {
    std::vector<std::string> row =
        DeviceCells(device.id(), device.kind(), FindDeviceInfo(vm.boot_info(), device.id()));
    row.push_back(absl::StrCat("requests ", device.requests()));
    row.push_back(absl::StrCat("read ", device.bytes_read(), " B"));
    row.push_back(absl::StrCat("written ", device.bytes_written(), " B"));
    row.push_back(absl::StrCat("errors ", device.errors()));
    if (device.packets_received() != 0 || device.packets_sent() != 0 || device.drops() != 0) {
      row.push_back(absl::StrCat("packets in ", device.packets_received(), " out ",
                                 device.packets_sent(), " dropped ", device.drops()));
    }
    if (device.refused_accesses() != 0) {
      row.push_back(absl::StrCat("refused accesses ", device.refused_accesses()));
    }
    if (device.needs_reset() != 0) {
      row.push_back(absl::StrCat("needs reset ", device.needs_reset()));
    }
    rows.push_back(std::move(row));
  }
  // Devices the boot info names but the counters do not (none, from a consistent vmmd).
  for (const vmm::v1::DeviceInfo& info : vm.boot_info().devices()) {
    const bool counted = std::any_of(vm.devices().begin(), vm.devices().end(),
                                     [&](const auto& device) { return device.id() == info.id(); });
    if (!counted) rows.push_back(DeviceCells(info.id(), info.kind(), &info));
  }
  if (!rows.empty()) AddColumnRows("devices", rows, table);
}

// "drive0  virtio-blk  mmio 0xd0000000 (512 bytes)  irq 5".
void AddBootDeviceRows(const vmm::v1::BootInfo& info, KeyValueTable& table) {
  std::vector<std::vector<std::string>> rows;
  for (const vmm::v1::DeviceInfo& device : info.devices()) {
    rows.push_back({device.id(), OrDash(device.kind()),
                    absl::StrCat("mmio ", HexWithSize(device.mmio_address(), device.mmio_size())),
                    absl::StrCat("irq ", device.irq())});
  }
  if (!rows.empty()) AddColumnRows("devices", rows, table);
}

// `with_devices`: false when the caller lists the devices itself (FormatVm, with counters).
void AddBootInfoRows(const vmm::v1::BootInfo& info, bool with_devices, KeyValueTable& table) {
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
  if (info.acpi_tables_size() == 0) {
    table.Add("acpi", "off");
  } else {
    for (int i = 0; i < info.acpi_tables_size(); ++i) {
      const vmm::v1::AcpiTable& acpi = info.acpi_tables(i);
      table.Add(i == 0 ? "acpi" : "",
                absl::StrCat(acpi.signature(), " ", HexWithSize(acpi.address(), acpi.length())));
    }
  }
  if (with_devices) AddBootDeviceRows(info, table);
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
  if (!vm.labels().empty()) {
    // Sorted, as a map's iteration order is not.
    const std::map<std::string, std::string> labels(vm.labels().begin(), vm.labels().end());
    std::vector<std::string> pairs;
    for (const auto& [key, value] : labels) pairs.push_back(absl::StrCat(key, "=", value));
    table.Add("labels", absl::StrJoin(pairs, ","));
  }
  AddDriveRows(vm, table);
  table.Add("entropy device", vm.entropy_device() ? "yes" : "no");
  AddNetworkRows(vm, table);
  if (vm.has_vsock()) {
    table.Add("vsock", absl::StrCat("cid ", vm.vsock().guest_cid(), ", ", vm.vsock().uds_path()));
  }
  table.Add("exit reason", OrDash(vm.exit_reason()));
  table.Add("console bytes", absl::StrCat(vm.console_bytes()));
  table.Add("unhandled io", absl::StrCat(vm.unhandled_io_count()));
  table.Add("unhandled mmio", absl::StrCat(vm.unhandled_mmio_count()));
  AddDeviceRows(vm, table);
  if (vm.has_boot_info()) AddBootInfoRows(vm.boot_info(), /*with_devices=*/false, table);
  return table.Render();
}

std::string FormatBootInfo(const vmm::v1::BootInfo& info) {
  KeyValueTable table;
  AddBootInfoRows(info, /*with_devices=*/true, table);
  return table.Render();
}

std::string FormatDeviceSummary(const vmm::v1::Vm& vm) {
  std::vector<std::string> parts;
  if (vm.drives_size() > 0) {
    parts.push_back(absl::StrCat(vm.drives_size(), vm.drives_size() == 1 ? " drive" : " drives"));
  }
  if (vm.entropy_device()) parts.push_back("rng");
  if (vm.has_vsock()) parts.push_back("vsock");
  if (vm.network_interfaces_size() > 0) {
    parts.push_back(absl::StrCat(vm.network_interfaces_size(), vm.network_interfaces_size() == 1 ? " nic" : " nics"));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, " + ");
}

std::string FormatVmList(const vmm::v1::ListVmsResponse& list) {
  std::vector<std::vector<std::string>> rows = {{"ID", "STATE", "VCPUS", "MEMORY", "DEVICES",
                                                 "CONSOLE", "UNHANDLED IO/MMIO", "EXIT REASON"}};
  for (const vmm::v1::Vm& vm : list.vms()) {
    rows.push_back({vm.vm_id(), StateName(vm.state()), absl::StrCat(vm.vcpu_count()),
                    absl::StrCat(vm.memory_mib(), " MiB"), FormatDeviceSummary(vm),
                    absl::StrCat(vm.console_bytes()),
                    absl::StrCat(vm.unhandled_io_count(), "/", vm.unhandled_mmio_count()),
                    OrDash(vm.exit_reason())});
  }
  return RenderColumns(rows);
}

std::string FormatHostInfo(const vmm::v1::HostInfo& info) {
  KeyValueTable table;
  table.Add("vmmd", info.vmmd_version());
  table.Add("kvm api", info.kvm_api_version() == 0 ? "none (no usable /dev/kvm)"
                                                    : absl::StrCat(info.kvm_api_version()));
  table.Add("cpu", absl::StrCat(OrDash(info.cpu_model()), " (", OrDash(info.cpu_vendor()), ")"));
  table.Add("guest cpu features", info.guest_cpu_features().empty()
                                      ? "-"
                                      : absl::StrJoin(info.guest_cpu_features(), " "));
  table.Add("max vcpus / memory", absl::StrCat(info.max_vcpus(), " / ", info.max_memory_mib(), " MiB per VM"));
  table.Add("max vms / memory", absl::StrCat(info.max_vms(), " / ",
                                             info.max_total_memory_mib() == 0
                                                 ? "no limit"
                                                 : absl::StrCat(info.max_total_memory_mib(), " MiB")));
  table.Add("devices", absl::StrJoin(info.devices(), " "));
  table.Add("boot", absl::StrCat(absl::StrJoin(info.boot_protocols(), " "), "; kernels ",
                                 absl::StrJoin(info.kernel_formats(), " ")));
  table.Add("snapshots / vsock", absl::StrCat(info.snapshots() ? "yes" : "no", " / ", info.vsock() ? "yes" : "no"));
  table.Add("vms", absl::StrCat(info.vm_count(), " holding ", info.committed_memory_mib(), " MiB"));
  const std::map<std::string, int64_t> capabilities(info.kvm_capabilities().begin(),
                                                    info.kvm_capabilities().end());
  bool first = true;
  for (const auto& [name, value] : capabilities) {
    table.Add(first ? "kvm capabilities" : "", absl::StrCat(name, " ", value));
    first = false;
  }
  return table.Render();
}

std::string FormatVmEvent(const vmm::v1::VmEvent& event) {
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                                            absl::FromUnixNanos(event.timestamp_unix_nanos()),
                                            absl::UTCTimeZone());
  return absl::StrCat(time, "  ", event.vm_id(), "  #", event.sequence(), "  ",
                      StateName(event.state()), "  ", OrDash(event.reason()),
                      event.deleted() ? "  (deleted)" : "", "\n");
}

std::string FormatStateLine(const vmm::v1::Vm& vm) {
  std::string line = absl::StrCat(vm.vm_id(), ": ", StateName(vm.state()));
  if (!vm.exit_reason().empty()) absl::StrAppend(&line, " (", vm.exit_reason(), ")");
  return absl::StrCat(line, "\n");
}

std::string FormatSnapshotInfo(const vmm::v1::SnapshotInfo& info) {
  std::string text = absl::StrFormat("%s: saved in %s in %.1f ms\n", info.vm_id(),
                                     info.snapshot_dir(), info.duration_micros() / 1000.0);
  for (const vmm::v1::SnapshotFile& file : info.files()) {
    absl::StrAppendFormat(&text, "  %s  %d bytes (%d on disk)\n", file.path(), file.size_bytes(),
                          file.allocated_bytes());
  }
  return text;
}

}  // namespace vmmctl
