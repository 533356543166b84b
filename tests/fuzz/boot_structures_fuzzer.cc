// Fuzzes the boot-structure writers with fuzzed boot parameters. Input, read through
// FuzzedDataProvider in this order (seed_gen.cc writes seeds with FdpEncoder in the same
// order):
//   memory pages    uint64 in [1, kMaxPages]: RAM of pages * 4 KiB, up to 5 GiB, so across
//                   the MMIO gap (GuestMemory maps with MAP_NORESERVE: untouched RAM is free)
//   vcpu_count      uint32 in [0, 300]        (valid: 1 to 254)
//   pvh             bool                       (else the 64-bit protocol)
//   has_header      bool                       (a bzImage's setup header is given)
//   initrd size     uint32 in [0, kMaxInitrd]
//   kernel_end      uint64 in [0, 4 GiB]
//   cmdline length  uint32 in [0, kCmdlineMaxSize + 16]
//   mp vcpus        uint32                     (for BuildMpTable on its own)
//   header bytes    sizeof(setup_header) bytes, when has_header
//   cmdline         the remaining bytes, repeated to the length (none: "x" repeated)
//
// WriteBootStructures, BuildE820Map and BuildMpTable run on it. Checked (configure_boot.h,
// e820.h, mptable.h, cmdline.h, initrd.h, zero_page.h, pvh.h, boot.rst, MP spec 1.4):
//   - errors are INVALID_ARGUMENT or OUT_OF_RANGE, and exactly the requests that must
//     succeed do: 1-254 vCPUs, a command line without NUL within the limit, at least 1 MiB
//     of RAM (every low boot structure lies below 1 MiB), and an initrd (if any) that fits
//     below min(3 GiB, initrd_addr_max + 1) above 32 MiB and above the kernel;
//   - the e820 map: entries in ascending order, non-empty, not overlapping, none in the MMIO
//     gap [3 GiB, 4 GiB); RAM entries inside guest RAM, and every byte of guest RAM in some
//     entry (RAM, or the reserved EBDA..1 MiB);
//   - the command line is in guest memory as given, NUL-terminated;
//   - the initrd is page aligned, above the kernel and 32 MiB, ends by initrd_addr_max + 1,
//     and holds the bytes given;
//   - the MP floating pointer and configuration table checksums are zero, the table lists
//     one processor per vCPU (vCPU 0 the BSP) and its stated length is what was written;
//   - linux64: the zero page carries the command line, initrd and e820 map as reported;
//     PVH: hvm_start_info carries the magic, command line, module and memory map.
#include <asm/bootparam.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "boot/cmdline.h"
#include "boot/configure_boot.h"
#include "boot/e820.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "boot/pvh.h"
#include "kvm/guest_memory.h"
#include "tests/fuzz/fuzz_check.h"

namespace vmmd::fuzz {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxPages = (uint64_t{5} << 30) / kPage;
constexpr uint32_t kMaxInitrd = 4 << 20;

// boot.rst: initrd_addr_max is 0x37ffffff for protocols before 2.03, which lack the field.
constexpr uint64_t kLegacyInitrdAddrMax = 0x37ffffff;

// The initrd's bytes: a pattern that never repeats with a period of a page.
const std::vector<uint8_t>& InitrdBytes() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> pattern(kMaxInitrd);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 131 + i / 4093);
    return pattern;
  }();
  return bytes;
}

template <typename T>
T ReadGuest(const GuestMemory& memory, uint64_t address) {
  absl::StatusOr<T> value = memory.Read<T>(GuestAddress(address));
  FUZZ_CHECK(value.ok(), value.status().ToString());
  return *value;
}

std::vector<uint8_t> ReadGuestBytes(const GuestMemory& memory, uint64_t address, uint64_t size) {
  std::vector<uint8_t> bytes(size);
  absl::Status status = memory.ReadBytes(GuestAddress(address), absl::MakeSpan(bytes));
  FUZZ_CHECK(status.ok(), status.ToString());
  return bytes;
}

uint8_t Sum(const std::vector<uint8_t>& bytes) {
  uint8_t sum = 0;
  for (uint8_t byte : bytes) sum += byte;
  return sum;
}

void CheckE820(const GuestMemory& memory, absl::Span<const E820Entry> map) {
  FUZZ_CHECK(!map.empty() && map.size() <= E820Map::kCapacity, "e820 map size");
  uint64_t previous_end = 0;
  for (const E820Entry& entry : map) {
    const std::string what = absl::StrFormat("e820 [%#x, +%#x) type %d in %#x bytes of RAM",
                                             entry.addr, entry.size, entry.type, memory.size());
    FUZZ_CHECK(entry.size != 0 && entry.addr + entry.size > entry.addr, what + ": empty or wraps");
    FUZZ_CHECK(entry.addr >= previous_end, what + ": out of order or overlapping");
    previous_end = entry.addr + entry.size;
    FUZZ_CHECK(entry.addr + entry.size <= kMmioGapStart || entry.addr >= kMmioGapEnd,
               what + ": in the MMIO gap");
    FUZZ_CHECK(entry.type == kE820Ram || entry.type == kE820Reserved, what + ": type");
    if (entry.type == kE820Ram) {
      FUZZ_CHECK(memory.Contains(GuestAddress(entry.addr), entry.size), what + ": not RAM");
    }
  }
  // Every byte of RAM is described.
  for (const GuestMemoryRegion& region : memory.regions()) {
    uint64_t covered = region.start.value();
    for (const E820Entry& entry : map) {
      if (entry.addr <= covered && entry.addr + entry.size > covered) covered = entry.addr + entry.size;
    }
    FUZZ_CHECK(covered >= region.end().value(),
               absl::StrFormat("RAM at %#x is in no e820 entry (%#x bytes of RAM)", covered,
                               memory.size()));
  }
}

// MP spec 1.4 sections 4.1 and 4.2: both checksums, the processor entries.
void CheckMpTable(const std::vector<uint8_t>& table, uint32_t vcpu_count,
                  uint64_t table_address) {
  FUZZ_CHECK(table.size() >= sizeof(mp::FloatingPointer) + sizeof(mp::ConfigHeader), "MP table size");
  mp::FloatingPointer pointer;
  std::memcpy(&pointer, table.data(), sizeof(pointer));
  FUZZ_CHECK(std::memcmp(pointer.signature, "_MP_", 4) == 0 && pointer.length_paragraphs == 1,
             "MP floating pointer signature or length");
  FUZZ_CHECK(Sum(std::vector<uint8_t>(table.begin(), table.begin() + 16)) == 0,
             "MP floating pointer checksum");
  FUZZ_CHECK(pointer.config_table_address == table_address + sizeof(pointer),
             "MP configuration table address");
  mp::ConfigHeader header;
  std::memcpy(&header, table.data() + sizeof(pointer), sizeof(header));
  FUZZ_CHECK(std::memcmp(header.signature, "PCMP", 4) == 0, "PCMP signature");
  FUZZ_CHECK(sizeof(pointer) + header.base_table_length == table.size(),
             absl::StrFormat("base_table_length %d, table %d bytes", header.base_table_length,
                             table.size()));
  FUZZ_CHECK(Sum(std::vector<uint8_t>(table.begin() + sizeof(pointer), table.end())) == 0,
             "MP configuration table checksum");
  // Entries: processors first, 20 bytes each; then 8-byte entries.
  size_t offset = sizeof(pointer) + sizeof(header);
  uint32_t processors = 0, entries = 0;
  while (offset < table.size()) {
    const uint8_t type = table[offset];
    if (type == mp::kProcessor) {
      mp::ProcessorEntry processor;
      FUZZ_CHECK(offset + sizeof(processor) <= table.size(), "truncated processor entry");
      std::memcpy(&processor, table.data() + offset, sizeof(processor));
      FUZZ_CHECK(processor.lapic_id == processors, "APIC ids are not 0..n-1");
      FUZZ_CHECK((processor.cpu_flags & mp::kCpuEnabled) &&
                     ((processor.cpu_flags & mp::kCpuBootstrap) != 0) == (processors == 0),
                 "processor flags: every CPU enabled, exactly CPU 0 the BSP");
      ++processors;
      offset += sizeof(processor);
    } else {
      FUZZ_CHECK(type <= mp::kLocalInterrupt, absl::StrFormat("MP entry type %d", type));
      offset += 8;
    }
    ++entries;
  }
  FUZZ_CHECK(offset == table.size(), "MP entries run past the table");
  FUZZ_CHECK(processors == vcpu_count,
             absl::StrFormat("%d processors for %d vCPUs", processors, vcpu_count));
  FUZZ_CHECK(entries == header.entry_count, "entry_count");
}

struct Params {
  uint64_t memory_size = 0;
  uint32_t vcpu_count = 0;
  uint32_t initrd_size = 0;
  uint32_t mp_vcpus = 0;
  BootRequest request;
  absl::Span<const uint8_t> initrd;  // what request.initrd reads
};

void CheckBootInfo(const GuestMemory& memory, const Params& params, const BootInfo& info) {
  const BootRequest& request = params.request;
  CheckE820(memory, info.e820);

  // Command line, NUL-terminated, where BootInfo says.
  FUZZ_CHECK(info.cmdline.value() == layout::kCmdlineStart &&
                 info.cmdline_size == request.cmdline.size() + 1,
             "cmdline address or size");
  const std::vector<uint8_t> cmdline =
      ReadGuestBytes(memory, info.cmdline.value(), info.cmdline_size);
  FUZZ_CHECK(std::memcmp(cmdline.data(), request.cmdline.data(), request.cmdline.size()) == 0 &&
                 cmdline.back() == 0,
             "cmdline in memory is not the one given, NUL-terminated");

  // Initrd.
  FUZZ_CHECK(info.initrd_size == params.initrd.size(), "initrd size");
  if (!params.initrd.empty()) {
    const uint64_t address = info.initrd.value();
    const uint64_t addr_max =
        !request.kernel_header ? UINT32_MAX
        : request.kernel_header->initrd_addr_max != 0 ? request.kernel_header->initrd_addr_max
                                                      : kLegacyInitrdAddrMax;
    const std::string what = absl::StrFormat("initrd [%#x, +%#x), kernel_end %#x, addr_max %#x",
                                             address, info.initrd_size,
                                             request.kernel_end.value(), addr_max);
    FUZZ_CHECK(address % kPage == 0, what + ": not page aligned");
    FUZZ_CHECK(address >= layout::kInitrdLowHeadroom, what + ": inside the kernel's 32 MiB");
    FUZZ_CHECK(address >= request.kernel_end.value(), what + ": inside the kernel");
    FUZZ_CHECK(address + info.initrd_size <= std::min(addr_max + 1, kMmioGapStart),
               what + ": above initrd_addr_max or 3 GiB");
    const std::vector<uint8_t> bytes = ReadGuestBytes(memory, address, info.initrd_size);
    FUZZ_CHECK(std::memcmp(bytes.data(), params.initrd.data(), bytes.size()) == 0,
               what + ": not the bytes given");
  }

  // MP table.
  FUZZ_CHECK(info.mp_table.value() == layout::kMpTableStart, "MP table address");
  CheckMpTable(ReadGuestBytes(memory, info.mp_table.value(), info.mp_table_size),
               params.vcpu_count, info.mp_table.value());

  if (request.protocol == BootProtocol::kLinux64) {
    const boot_params zero_page = ReadGuest<boot_params>(memory, layout::kZeroPageStart);
    FUZZ_CHECK(info.zero_page.value() == layout::kZeroPageStart, "zero page address");
    FUZZ_CHECK(zero_page.hdr.cmd_line_ptr == info.cmdline.value() && zero_page.ext_cmd_line_ptr == 0,
               "zero page cmd_line_ptr");
    const uint64_t ramdisk_image =
        zero_page.hdr.ramdisk_image | uint64_t{zero_page.ext_ramdisk_image} << 32;
    const uint64_t ramdisk_size =
        zero_page.hdr.ramdisk_size | uint64_t{zero_page.ext_ramdisk_size} << 32;
    // boot.rst: "write (obligatory)" fields, 0 without an initrd whatever the header held.
    FUZZ_CHECK(ramdisk_size == info.initrd_size &&
                   ramdisk_image == (info.initrd_size != 0 ? info.initrd.value() : 0),
               absl::StrFormat("zero page ramdisk [%#x, +%#x), initrd [%#x, +%#x)", ramdisk_image,
                               ramdisk_size, info.initrd.value(), info.initrd_size));
    FUZZ_CHECK(zero_page.hdr.boot_flag == (request.kernel_header ? request.kernel_header->boot_flag
                                                                 : 0xaa55),
               "zero page boot_flag");
    FUZZ_CHECK(zero_page.hdr.type_of_loader == 0xff, "type_of_loader");
    FUZZ_CHECK(zero_page.e820_entries == info.e820.size(), "zero page e820_entries");
    for (size_t i = 0; i < info.e820.size(); ++i) {
      const boot_e820_entry entry = zero_page.e820_table[i];
      FUZZ_CHECK(entry.addr == info.e820[i].addr && entry.size == info.e820[i].size &&
                     entry.type == info.e820[i].type,
                 absl::StrFormat("zero page e820 entry %d", i));
    }
  } else {
    const HvmStartInfo start = ReadGuest<HvmStartInfo>(memory, info.start_info.value());
    FUZZ_CHECK(start.magic == kHvmStartMagic && start.version >= 1, "hvm_start_info magic");
    FUZZ_CHECK(start.cmdline_paddr == info.cmdline.value(), "hvm_start_info cmdline_paddr");
    FUZZ_CHECK(start.nr_modules == (info.initrd_size != 0 ? 1u : 0u), "hvm_start_info nr_modules");
    if (start.nr_modules == 1) {
      const HvmModlistEntry module = ReadGuest<HvmModlistEntry>(memory, start.modlist_paddr);
      FUZZ_CHECK(module.paddr == info.initrd.value() && module.size == info.initrd_size,
                 "hvm_start_info module");
    }
    FUZZ_CHECK(start.memmap_entries == info.e820.size(), "hvm_start_info memmap_entries");
    for (size_t i = 0; i < info.e820.size(); ++i) {
      const HvmMemmapEntry entry =
          ReadGuest<HvmMemmapEntry>(memory, start.memmap_paddr + i * sizeof(HvmMemmapEntry));
      FUZZ_CHECK(entry.addr == info.e820[i].addr && entry.size == info.e820[i].size &&
                     entry.type == info.e820[i].type,
                 absl::StrFormat("hvm memmap entry %d", i));
    }
  }
}

// What WriteBootStructures must do, from the headers' rules rather than the code: fail for
// a bad vCPU count, command line or initrd; succeed when none is bad and there is at least
// 1 MiB of RAM (every low boot structure lies below 1 MiB). With less, either may happen.
struct Expectation {
  bool must_fail = false;
  bool must_succeed = false;
};

Expectation Expect(const GuestMemory& memory, const Params& params) {
  const BootRequest& request = params.request;
  Expectation expect;
  expect.must_fail = params.vcpu_count < 1 || params.vcpu_count > kMaxMpTableVcpus ||
                     request.cmdline.find('\0') != std::string::npos;
  // The kernel's limit, worked out independently of KernelCmdlineLimit.
  uint64_t cmdline_limit = 2047;
  if (request.kernel_header) {
    const uint32_t size = request.kernel_header->cmdline_size;
    cmdline_limit = size == 0 ? 255 : std::min<uint64_t>(layout::kCmdlineMaxSize - 1, size);
  }
  expect.must_fail |= request.cmdline.size() > cmdline_limit;
  if (!params.initrd.empty()) {
    const uint64_t addr_max =
        !request.kernel_header ? UINT32_MAX
        : request.kernel_header->initrd_addr_max != 0 ? request.kernel_header->initrd_addr_max
                                                      : kLegacyInitrdAddrMax;
    const uint64_t top = std::min(memory.low_region().size, addr_max + 1);
    const uint64_t size = params.initrd.size();
    const uint64_t address = size > top ? 0 : (top - size) / kPage * kPage;
    expect.must_fail |= size > top || address < layout::kInitrdLowHeadroom ||
                        address < request.kernel_end.value();
  }
  expect.must_succeed = !expect.must_fail && memory.size() >= layout::kHighMemStart;
  return expect;
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd;
  using namespace vmmd::fuzz;
  FuzzedDataProvider provider(data, size);
  Params params;
  params.memory_size = provider.ConsumeIntegralInRange<uint64_t>(1, kMaxPages) * kPage;
  params.vcpu_count = provider.ConsumeIntegralInRange<uint32_t>(0, 300);
  BootRequest& request = params.request;
  request.protocol = provider.ConsumeBool() ? BootProtocol::kPvh : BootProtocol::kLinux64;
  const bool has_header = provider.ConsumeBool();
  params.initrd_size = provider.ConsumeIntegralInRange<uint32_t>(0, kMaxInitrd);
  request.kernel_end = GuestAddress(provider.ConsumeIntegralInRange<uint64_t>(0, kMmioGapEnd));
  const uint32_t cmdline_size =
      provider.ConsumeIntegralInRange<uint32_t>(0, layout::kCmdlineMaxSize + 16);
  params.mp_vcpus = provider.ConsumeIntegral<uint32_t>();
  if (has_header) {
    setup_header header;
    std::memset(&header, 0, sizeof(header));
    const std::vector<uint8_t> bytes = provider.ConsumeBytes<uint8_t>(sizeof(header));
    if (!bytes.empty()) std::memcpy(&header, bytes.data(), bytes.size());
    request.kernel_header = header;
  }
  const std::string pattern = provider.ConsumeRemainingBytesAsString();
  request.cmdline.resize(cmdline_size);
  for (uint32_t i = 0; i < cmdline_size; ++i) {
    request.cmdline[i] = pattern.empty() ? 'x' : pattern[i % pattern.size()];
  }
  params.initrd = absl::MakeConstSpan(InitrdBytes()).subspan(0, params.initrd_size);
  const BytesImageReader initrd_reader(params.initrd);
  request.initrd = &initrd_reader;
  request.entry_point = GuestAddress(0x1000000);

  absl::StatusOr<GuestMemory> memory = GuestMemory::Create(params.memory_size);
  FUZZ_CHECK(memory.ok(), memory.status().ToString());

  // The e820 map on its own: never fails for memory GuestMemory could create.
  absl::StatusOr<E820Map> e820 = BuildE820Map(*memory);
  FUZZ_CHECK(e820.ok(), e820.status().ToString());
  CheckE820(*memory, e820->entries());

  // The MP table on its own, for any vCPU count.
  constexpr uint64_t kTableAddress = layout::kMpTableStart;
  absl::StatusOr<std::vector<uint8_t>> table = BuildMpTable(params.mp_vcpus, GuestAddress(kTableAddress));
  const bool mp_valid = params.mp_vcpus >= 1 && params.mp_vcpus <= kMaxMpTableVcpus;
  FUZZ_CHECK(table.ok() == mp_valid, absl::StrFormat("BuildMpTable(%d): %s", params.mp_vcpus,
                                                     table.status().ToString()));
  if (table.ok()) {
    CheckMpTable(*table, params.mp_vcpus, kTableAddress);
  } else {
    FUZZ_CHECK(table.status().code() == absl::StatusCode::kInvalidArgument,
               table.status().ToString());
  }

  absl::StatusOr<BootInfo> info = WriteBootStructures(*memory, request, params.vcpu_count);
  const Expectation expect = Expect(*memory, params);
  const std::string what = absl::StrFormat(
      "WriteBootStructures(%#x bytes of RAM, %d vCPUs, %s, cmdline %d bytes, initrd %d bytes, "
      "kernel_end %#x, header %s): %s",
      params.memory_size, params.vcpu_count,
      request.protocol == BootProtocol::kPvh ? "pvh" : "linux64", request.cmdline.size(),
      params.initrd.size(), request.kernel_end.value(), has_header ? "given" : "none",
      info.status().ToString());
  if (!info.ok()) {
    FUZZ_CHECK(!expect.must_succeed, what + "; expected success");
    FUZZ_CHECK(info.status().code() == absl::StatusCode::kInvalidArgument ||
                   info.status().code() == absl::StatusCode::kOutOfRange,
               what);
    return 0;
  }
  FUZZ_CHECK(info->protocol == request.protocol && info->entry_point == request.entry_point, what);
  FUZZ_CHECK(!expect.must_fail, what + "; expected failure");
  CheckBootInfo(*memory, params, *info);
  return 0;
}
