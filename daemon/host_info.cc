#include "daemon/host_info.h"

#include <cpuid.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "boot/mptable.h"

namespace vmmd {
namespace {

struct FeatureBit {
  uint32_t leaf;
  int reg;  // 0 EBX, 1 ECX, 2 EDX
  int bit;
  const char* name;
};

// The features a scheduler matches workloads on (Intel SDM vol. 2A, CPUID; AMD APM vol. 3).
constexpr FeatureBit kFeatures[] = {
    {1, 2, 0, "fpu"},        {1, 2, 4, "tsc"},         {1, 2, 5, "msr"},
    {1, 2, 8, "cx8"},        {1, 2, 9, "apic"},        {1, 2, 15, "cmov"},
    {1, 2, 19, "clflush"},   {1, 2, 23, "mmx"},        {1, 2, 24, "fxsr"},
    {1, 2, 25, "sse"},       {1, 2, 26, "sse2"},       {1, 1, 0, "pni"},
    {1, 1, 1, "pclmulqdq"},  {1, 1, 9, "ssse3"},       {1, 1, 12, "fma"},
    {1, 1, 13, "cx16"},      {1, 1, 19, "sse4_1"},     {1, 1, 20, "sse4_2"},
    {1, 1, 21, "x2apic"},    {1, 1, 22, "movbe"},      {1, 1, 23, "popcnt"},
    {1, 1, 24, "tsc_deadline_timer"}, {1, 1, 25, "aes"}, {1, 1, 26, "xsave"},
    {1, 1, 28, "avx"},       {1, 1, 29, "f16c"},       {1, 1, 30, "rdrand"},
    {1, 1, 31, "hypervisor"},
    {7, 0, 0, "fsgsbase"},   {7, 0, 3, "bmi1"},        {7, 0, 5, "avx2"},
    {7, 0, 7, "smep"},       {7, 0, 8, "bmi2"},        {7, 0, 9, "erms"},
    {7, 0, 16, "avx512f"},   {7, 0, 18, "rdseed"},     {7, 0, 19, "adx"},
    {7, 0, 20, "smap"},      {7, 0, 29, "sha_ni"},     {7, 1, 2, "umip"},
    {0x80000001, 2, 11, "syscall"}, {0x80000001, 2, 20, "nx"}, {0x80000001, 2, 26, "pdpe1gb"},
    {0x80000001, 2, 27, "rdtscp"},  {0x80000001, 2, 29, "lm"},  {0x80000001, 1, 0, "lahf_lm"},
    {0x80000001, 1, 5, "abm"},
};

// The KVM capabilities vmmd relies on or uses when present.
struct Capability {
  const char* name;
  int number;
};
constexpr Capability kCapabilities[] = {
    {"KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP},
    {"KVM_CAP_PIT2", KVM_CAP_PIT2},
    {"KVM_CAP_IRQFD", KVM_CAP_IRQFD},
    {"KVM_CAP_IOEVENTFD", KVM_CAP_IOEVENTFD},
    {"KVM_CAP_USER_MEMORY", KVM_CAP_USER_MEMORY},
    {"KVM_CAP_SET_TSS_ADDR", KVM_CAP_SET_TSS_ADDR},
    {"KVM_CAP_SET_IDENTITY_MAP_ADDR", KVM_CAP_SET_IDENTITY_MAP_ADDR},
    {"KVM_CAP_EXT_CPUID", KVM_CAP_EXT_CPUID},
    {"KVM_CAP_NR_VCPUS", KVM_CAP_NR_VCPUS},
    {"KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS},
    {"KVM_CAP_COALESCED_PIO", KVM_CAP_COALESCED_PIO},
    {"KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
    {"KVM_CAP_VCPU_ATTRIBUTES", KVM_CAP_VCPU_ATTRIBUTES},
    {"KVM_CAP_XSAVE", KVM_CAP_XSAVE},
    {"KVM_CAP_XCRS", KVM_CAP_XCRS},
    {"KVM_CAP_DEBUGREGS", KVM_CAP_DEBUGREGS},
    {"KVM_CAP_KVMCLOCK_CTRL", KVM_CAP_KVMCLOCK_CTRL},
    {"KVM_CAP_ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK},
};

uint32_t Register(const kvm_cpuid_entry2& entry, int reg) {
  return reg == 0 ? entry.ebx : reg == 1 ? entry.ecx : entry.edx;
}

}  // namespace

std::vector<std::string> CpuidFeatureNames(absl::Span<const kvm_cpuid_entry2> cpuid) {
  std::vector<std::string> names;
  for (const FeatureBit& feature : kFeatures) {
    for (const kvm_cpuid_entry2& entry : cpuid) {
      if (entry.function != feature.leaf || entry.index != 0) continue;
      if ((Register(entry, feature.reg) >> feature.bit) & 1) names.push_back(feature.name);
      break;
    }
  }
  return names;
}

std::string HostCpuModel() {
  unsigned int highest = __get_cpuid_max(0x80000000, nullptr);
  if (highest < 0x80000004) return "";
  char brand[49] = {};
  for (unsigned int leaf = 0; leaf < 3; ++leaf) {
    unsigned int regs[4];
    __cpuid(0x80000002 + leaf, regs[0], regs[1], regs[2], regs[3]);
    std::memcpy(brand + 16 * leaf, regs, sizeof(regs));
  }
  return std::string(absl::StripAsciiWhitespace(brand));
}

std::string HostCpuVendor() {
  unsigned int eax, ebx, ecx, edx;
  __cpuid(0, eax, ebx, ecx, edx);
  char vendor[13] = {};
  std::memcpy(vendor, &ebx, 4);
  std::memcpy(vendor + 4, &edx, 4);
  std::memcpy(vendor + 8, &ecx, 4);
  return vendor;
}

void DescribeHost(const VmManager& manager, vmm::v1::HostInfo* info) {
  const VmManagerOptions& options = manager.options();
  info->set_vmmd_version(kVmmdVersion);
  info->set_cpu_model(HostCpuModel());
  info->set_cpu_vendor(HostCpuVendor());
  uint32_t max_vcpus = std::min<uint32_t>(options.max_vcpus, kMaxMpTableVcpus);
  if (const KvmSystem* kvm = manager.kvm(); kvm != nullptr) {
    info->set_kvm_api_version(KvmSystem::kApiVersion);
    for (const Capability& capability : kCapabilities) {
      absl::StatusOr<int> value = kvm->CheckExtension(capability.number);
      (*info->mutable_kvm_capabilities())[capability.name] = value.ok() ? *value : 0;
    }
    if (absl::StatusOr<int> kvm_max = kvm->CheckExtension(KVM_CAP_MAX_VCPUS); kvm_max.ok() && *kvm_max > 0) {
      max_vcpus = std::min<uint32_t>(max_vcpus, static_cast<uint32_t>(*kvm_max));
    }
    for (std::string& name : CpuidFeatureNames(manager.supported_cpuid())) {
      info->add_guest_cpu_features(std::move(name));
    }
  }
  info->set_max_vcpus(max_vcpus);
  info->set_max_memory_mib(options.max_memory_mib);
  info->set_max_vms(options.max_vms);
  info->set_max_total_memory_mib(options.max_total_memory_mib);
  for (const char* device : {"virtio-blk", "virtio-net", "virtio-rng", "virtio-vsock", "serial-16550a",
                             "i8042", "acpi-sleep"}) {
    info->add_devices(device);
  }
  for (const char* protocol : {"linux64", "pvh"}) info->add_boot_protocols(protocol);
  for (const char* format : {"elf", "bzimage"}) info->add_kernel_formats(format);
  info->set_snapshots(!options.snapshot_root.empty());
  info->set_vsock(!options.vsock_root.empty());
  const VmManager::Usage usage = manager.usage();
  info->set_vm_count(usage.vms);
  info->set_committed_memory_mib(usage.memory_mib);
}

}  // namespace vmmd
