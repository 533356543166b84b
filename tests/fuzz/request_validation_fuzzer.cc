// Fuzzes the API's request handling in-process, without network or KVM. Input: one byte
// naming a request message (request_kinds.h), then the message serialized; inputs that do
// not parse are dropped, as gRPC would drop them before any handler ran.
//
// The message goes to VmmServiceImpl's handler, called directly over a VmManager built
// without KVM (as vmmd runs on a host without /dev/kvm). The handlers ignore their
// ServerContext until they hold a VM, and without KVM no VM can exist, so a null context
// (and, for the two streaming calls, a null writer) is never touched. Also run on the
// request's fields: VmManager::ValidateVmId, ParseBootProtocol, and ImageFile::Open on
// kernel_path and initrd_path against two image roots (temporary directories filled below;
// "$ROOT" and "$OTHER" in a path stand for them), loading an image that opens with
// LoadKernel. Checked:
//   - no status, converted as the daemon converts it, is UNKNOWN or INTERNAL;
//   - each handler's code is the one the API documents for the request: CreateVm is
//     INVALID_ARGUMENT for a bad vm_id, vcpu_count (1-254) or memory_mib (2 MiB up to the
//     limit), else UNAVAILABLE (no KVM); calls naming a VM are INVALID_ARGUMENT without
//     vm_id, NOT_FOUND for a plausible one (1-64 characters, and for ConfigureBoot short
//     fields and paths without NUL), one of the two otherwise; ListVms is OK and empty;
//   - ValidateVmId accepts exactly 1-64 characters of [A-Za-z0-9_-]; ParseBootProtocol
//     exactly "", "auto", "linux64", "pvh";
//   - ImageFile::Open (on paths without NUL, which the daemon refuses before opening) fails
//     with INVALID_ARGUMENT, PERMISSION_DENIED or NOT_FOUND only, and opens only files
//     beneath the image root the path starts with (their real path too: no symlink leads
//     out), no larger than the limit.
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "boot/kernel_loader.h"
#include "daemon/grpc_status.h"
#include "daemon/image_file.h"
#include "daemon/vm_manager.h"
#include "daemon/labels.h"
#include "daemon/vmm_service.h"
#include "google/protobuf/stubs/logging.h"
#include "kvm/guest_memory.h"
#include "kvm/kvm_system.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/image_builder.h"
#include "tests/fuzz/request_kinds.h"
#include "vmm/v1/vmm.pb.h"

namespace vmmd::fuzz {
namespace {

constexpr uint64_t kMaxKernelBytes = 1 << 20;
constexpr uint64_t kMaxInitrdBytes = 4096;  // initrd.img is larger: "larger than max_size"

std::string MakeTempDir(const char* name) {
  const char* base = std::getenv("TEST_TMPDIR");
  if (base == nullptr) base = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/", name, ".XXXXXX");
  FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp " + pattern);
  char real[PATH_MAX];
  FUZZ_CHECK(::realpath(pattern.c_str(), real) != nullptr, "realpath " + pattern);
  return real;  // image roots are canonical (VmManagerOptions)
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* file = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(file != nullptr, "create " + path);
  FUZZ_CHECK(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size(), "write " + path);
  std::fclose(file);
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

// The image roots, made once per process and removed at exit.
struct Roots {
  std::string root;
  std::string other;
};

const Roots& ImageRoots() {
  static const Roots* roots = [] {
    auto* made = new Roots{MakeTempDir("vmmd-fuzz-root"), MakeTempDir("vmmd-fuzz-other")};
    const std::string& r = made->root;
    WriteFile(r + "/vmlinux", PvhKernelElf());
    WriteFile(r + "/initrd.img", std::vector<uint8_t>(8192, 0x42));
    FUZZ_CHECK(::mkdir((r + "/sub").c_str(), 0755) == 0, "mkdir sub");
    WriteFile(r + "/sub/bzImage", BuildBzImage(BzImageHeader(), 2048));
    WriteFile(r + "/empty", {});
    FUZZ_CHECK(::symlink("/etc", (r + "/escape").c_str()) == 0, "symlink escape");
    FUZZ_CHECK(::symlink("..", (r + "/up").c_str()) == 0, "symlink up");
    FUZZ_CHECK(::symlink("sub/bzImage", (r + "/inside").c_str()) == 0, "symlink inside");
    FUZZ_CHECK(::symlink("loop", (r + "/loop").c_str()) == 0, "symlink loop");
    FUZZ_CHECK(::mkfifo((r + "/fifo").c_str(), 0644) == 0, "mkfifo");
    // A symlink out of the other root into this one: still outside the other root.
    FUZZ_CHECK(::symlink((r + "/vmlinux").c_str(), (made->other + "/vmlinux").c_str()) == 0,
               "symlink other");
    std::atexit([] {
      const Roots& roots = ImageRoots();
      ::nftw(roots.root.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
      ::nftw(roots.other.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
    });
    return made;
  }();
  return *roots;
}

VmManager& Manager() {
  static VmManager* manager = [] {
    VmManagerOptions options;
    options.image_roots = {ImageRoots().root, ImageRoots().other};
    options.max_kernel_bytes = kMaxKernelBytes;
    options.max_initrd_bytes = kMaxInitrdBytes;
    return new VmManager(/*kvm=*/nullptr, options);
  }();
  return *manager;
}

// The code the daemon would answer with, which must never be UNKNOWN or INTERNAL (those
// mean a bug, not a bad request).
grpc::StatusCode CheckedCode(const grpc::Status& status, const std::string& call) {
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::UNKNOWN &&
                 status.error_code() != grpc::StatusCode::INTERNAL,
             absl::StrCat(call, " answered ", static_cast<int>(status.error_code()), ": ",
                          status.error_message()));
  return status.error_code();
}

grpc::StatusCode CheckedCode(const absl::Status& status, const std::string& call) {
  return CheckedCode(ToGrpcStatus(status), call);
}

bool ValidVmId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool ValidDeviceId(const std::string& id) {
  if (id.empty() || id.size() > 20) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The drive rules, written out independently of VmManager::ValidateDrives: at most 16, ids
// 1-20 of [A-Za-z0-9_-] and unique, paths at most 4095 bytes without NUL, one root at most.
bool ValidDrives(const vmm::v1::CreateVmRequest& request) {
  if (request.drives_size() > 16) return false;
  int roots = 0;
  for (int i = 0; i < request.drives_size(); ++i) {
    const vmm::v1::Drive& drive = request.drives(i);
    const std::string& id = drive.drive_id();
    if (!ValidDeviceId(id)) return false;
    for (int j = 0; j < i; ++j) {
      if (request.drives(j).drive_id() == id) return false;
    }
    if (drive.path().size() > 4095 || drive.path().find('\0') != std::string::npos) return false;
    if (drive.is_root_device() && ++roots > 1) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// aa:bb:cc:dd:ee:ff, unicast (first byte even), not all zero.
bool ValidMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  int sum = 0;
  for (int i = 0; i < 6; ++i) {
    const int high = HexValue(mac[3 * i]), low = HexValue(mac[3 * i + 1]);
    if (high < 0 || low < 0 || (i < 5 && mac[3 * i + 2] != ':')) return false;
    sum += high + low;
  }
  return HexValue(mac[1]) % 2 == 0 && sum != 0;
}

// Linux's dev_valid_name: 1-15 bytes, not "." or "..", no '/', ':', NUL or whitespace.
bool ValidTapName(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || c == ' ' || (c >= '\t' && c <= '\r')) return false;
  }
  return true;
}

// The network rules, written out independently of VmManager::ValidateNetworkInterfaces: at
// most 8; ids as drive ids, unique; tap names Linux accepts, unique; addresses empty or
// unicast; and every device together within the 17 IRQ lines.
bool ValidNetworkInterfaces(const vmm::v1::CreateVmRequest& request) {
  const auto& interfaces = request.network_interfaces();
  if (interfaces.size() > 8) return false;
  for (int i = 0; i < interfaces.size(); ++i) {
    if (!ValidDeviceId(interfaces[i].iface_id()) || !ValidTapName(interfaces[i].host_dev_name())) return false;
    if (!interfaces[i].guest_mac().empty() && !ValidMac(interfaces[i].guest_mac())) return false;
    for (int j = 0; j < i; ++j) {
      if (interfaces[j].iface_id() == interfaces[i].iface_id() ||
          interfaces[j].host_dev_name() == interfaces[i].host_dev_name()) {
        return false;
      }
    }
  }
  return request.drives_size() + (request.entropy_device() ? 1 : 0) + interfaces.size() +
             (request.has_vsock() ? 1 : 0) <=
         17;
}

// The vsock rules: a CID of 3 to 2^32-2; an absolute path of at most 96 bytes (room for
// "_<port>" in a sockaddr_un), no NUL, no "." or ".." component, not ending in '/'.
bool ValidVsock(const vmm::v1::CreateVmRequest& request) {
  if (!request.has_vsock()) return true;
  const uint32_t cid = request.vsock().guest_cid();
  const std::string& path = request.vsock().uds_path();
  if (cid < 3 || cid == 0xffffffffu) return false;
  if (path.empty() || path.size() > 96 || path[0] != '/' || path.back() == '/' ||
      path.find('\0') != std::string::npos) {
    return false;
  }
  return path.find("/./") == std::string::npos && path.find("/../") == std::string::npos &&
         !absl::EndsWith(path, "/.") && !absl::EndsWith(path, "/..");
}

void CheckVmId(const std::string& id) {
  const absl::Status status = VmManager::ValidateVmId(id);
  CheckedCode(status, "ValidateVmId");
  FUZZ_CHECK(status.ok() == ValidVmId(id), "ValidateVmId(\"" + id + "\"): " + status.ToString());
  FUZZ_CHECK(status.ok() || status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
}

// For calls that name an existing VM, of which there is none: INVALID_ARGUMENT without a
// vm_id, NOT_FOUND for one that could exist (1-64 characters), either for a longer one.
// `plain` says the request's other fields are unremarkable (the daemon may refuse others
// with INVALID_ARGUMENT before looking the VM up).
void CheckNamesVm(const grpc::Status& status, const std::string& vm_id, const std::string& call,
                  bool plain = true) {
  const grpc::StatusCode code = CheckedCode(status, call);
  const std::string what = absl::StrCat(call, "(\"", vm_id, "\") answered ",
                                        static_cast<int>(code), ": ", status.error_message());
  FUZZ_CHECK(code == grpc::StatusCode::INVALID_ARGUMENT || code == grpc::StatusCode::NOT_FOUND,
             what);
  if (vm_id.empty()) FUZZ_CHECK(code == grpc::StatusCode::INVALID_ARGUMENT, what);
  if (!vm_id.empty() && vm_id.size() <= VmManager::kMaxVmIdLength && plain) {
    FUZZ_CHECK(code == grpc::StatusCode::NOT_FOUND, what);
  }
  CheckVmId(vm_id);
}

// A request field no daemon would refuse: short, and (for paths) without a NUL byte.
bool Plain(const std::string& value, size_t limit) {
  return value.size() <= limit && value.find('\0') == std::string::npos;
}

std::string WithRoots(const std::string& path) {
  return absl::StrReplaceAll(path, {{kRootToken, ImageRoots().root}, {kOtherRootToken, ImageRoots().other}});
}

// ImageFile::Open on a client's path; returns the file when it opened.
std::unique_ptr<ImageFile> CheckOpen(const std::string& path, uint64_t max_size, const char* field) {
  const std::vector<std::string>& roots = Manager().options().image_roots;
  absl::StatusOr<ImageFile> file = ImageFile::Open(path, roots, max_size, field);
  const std::string call = absl::StrCat("ImageFile::Open(", field, " \"", path, "\")");
  CheckedCode(file.status(), call);
  if (!file.ok()) {
    const absl::StatusCode code = file.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
                   code == absl::StatusCode::kPermissionDenied ||
                   code == absl::StatusCode::kNotFound,
               call + ": " + file.status().ToString());
    return nullptr;
  }
  const std::string* root = nullptr;
  for (const std::string& candidate : roots) {
    if (absl::StartsWith(path, candidate + "/")) root = &candidate;
  }
  FUZZ_CHECK(root != nullptr, call + " opened a file outside every image root");
  char real[PATH_MAX];
  FUZZ_CHECK(::realpath(path.c_str(), real) != nullptr, call + ": opened, but realpath fails");
  FUZZ_CHECK(absl::StartsWith(real, *root + "/"),
             absl::StrCat(call, " opened ", real, ", outside its root ", *root));
  FUZZ_CHECK(file->size() <= max_size, call + ": larger than the limit");
  return std::make_unique<ImageFile>(std::move(*file));
}

void ConfigureBoot(const vmm::v1::ConfigureBootRequest& request) {
  static VmmServiceImpl& service = *new VmmServiceImpl(&Manager());  // its pump thread lives on
  vmm::v1::ConfigureBootRequest with_roots = request;
  with_roots.set_kernel_path(WithRoots(request.kernel_path()));
  with_roots.set_initrd_path(WithRoots(request.initrd_path()));
  vmm::v1::BootInfo info;
  // The names are checked before the VM is looked up, as the lengths are.
  const std::string& protocol_name = request.boot_protocol();
  const bool known_names =
      (protocol_name.empty() || protocol_name == "auto" || protocol_name == "linux64" ||
       protocol_name == "pvh") &&
      (request.acpi().empty() || request.acpi() == "on" || request.acpi() == "off");
  const bool plain = Plain(with_roots.kernel_path(), 1024) && Plain(with_roots.initrd_path(), 1024) &&
                     request.cmdline().size() <= 4096 && known_names;
  CheckNamesVm(service.ConfigureBoot(nullptr, &with_roots, &info), request.vm_id(), "ConfigureBoot",
               plain);

  // What VmManager::ConfigureBoot does next, for a VM that existed.
  const absl::StatusOr<BootProtocolChoice> protocol = ParseBootProtocol(request.boot_protocol());
  CheckedCode(protocol.status(), "ParseBootProtocol");
  const std::string& name = request.boot_protocol();
  const bool valid = name.empty() || name == "auto" || name == "linux64" || name == "pvh";
  FUZZ_CHECK(protocol.ok() == valid,
             "ParseBootProtocol(\"" + name + "\"): " + protocol.status().ToString());
  // A path holding a NUL byte never reaches ImageFile::Open: VmManager::ConfigureBoot refuses
  // it first (the path goes to openat2 as a C string, where the NUL would end it early).
  const bool nul = with_roots.kernel_path().find('\0') != std::string::npos ||
                   with_roots.initrd_path().find('\0') != std::string::npos;
  if (nul) return;
  std::unique_ptr<ImageFile> kernel =
      CheckOpen(with_roots.kernel_path(), kMaxKernelBytes, "kernel_path");
  if (!with_roots.initrd_path().empty()) {
    if (std::unique_ptr<ImageFile> initrd =
            CheckOpen(with_roots.initrd_path(), kMaxInitrdBytes, "initrd_path")) {
      const absl::StatusOr<std::vector<uint8_t>> bytes = initrd->ReadAll();
      FUZZ_CHECK(bytes.ok() && bytes->size() == initrd->size(), "initrd ReadAll");
    }
  }
  if (kernel != nullptr && protocol.ok()) {
    absl::StatusOr<GuestMemory> memory = GuestMemory::Create(64 << 20);
    FUZZ_CHECK(memory.ok(), memory.status().ToString());
    const absl::StatusOr<KernelImage> loaded = LoadKernel(*kernel, *memory, *protocol);
    const grpc::StatusCode code = CheckedCode(loaded.status(), "LoadKernel");
    FUZZ_CHECK(code == grpc::StatusCode::OK || code == grpc::StatusCode::INVALID_ARGUMENT ||
                   code == grpc::StatusCode::OUT_OF_RANGE,
               loaded.status().ToString());
  }
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in a string field fails the parse (as it should) and logs each time.
  google::protobuf::SetLogHandler(nullptr);
  vmmd::fuzz::ImageRoots();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmmd;
  using namespace vmmd::fuzz;
  if (size == 0) return 0;
  const size_t kind = data[0] % kRequestKindCount;
  const std::string type = kRequestKinds[kind];
  ++data;
  --size;
  static VmmServiceImpl& service = *new VmmServiceImpl(&Manager());  // its pump thread lives on
  vmm::v1::Vm vm;
  if (type == "vmm.v1.CreateVmRequest") {
    vmm::v1::CreateVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    const grpc::Status status = service.CreateVm(nullptr, &request, &vm);
    const bool valid = (request.vm_id().empty() || ValidVmId(request.vm_id())) &&
                       request.vcpu_count() >= 1 && request.vcpu_count() <= 254 &&
                       request.memory_mib() >= 2 &&
                       request.memory_mib() <= Manager().options().max_memory_mib &&
                       ValidDrives(request) && ValidNetworkInterfaces(request) && ValidVsock(request) &&
                       // daemon/labels_test holds the label rules' cases; here: refused as such.
                       ValidateLabels(Labels(request.labels().begin(), request.labels().end())).ok();
    const grpc::StatusCode expected =
        valid ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::INVALID_ARGUMENT;
    FUZZ_CHECK(CheckedCode(status, "CreateVm") == expected,
               absl::StrCat("CreateVm(\"", request.vm_id(), "\", ", request.vcpu_count(), ", ",
                            request.memory_mib(), ") answered ", static_cast<int>(status.error_code()), ": ",
                            status.error_message()));
    if (!request.vm_id().empty()) CheckVmId(request.vm_id());
  } else if (type == "vmm.v1.ConfigureBootRequest") {
    vmm::v1::ConfigureBootRequest request;
    if (!Parse(data, size, &request)) return 0;
    ConfigureBoot(request);
  } else if (type == "vmm.v1.StartVcpusRequest") {
    vmm::v1::StartVcpusRequest request;
    if (!Parse(data, size, &request)) return 0;
    CheckNamesVm(service.StartVcpus(nullptr, &request, &vm), request.vm_id(), "StartVcpus");
  } else if (type == "vmm.v1.GetVmRequest") {
    vmm::v1::GetVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    CheckNamesVm(service.GetVm(nullptr, &request, &vm), request.vm_id(), "GetVm");
  } else if (type == "vmm.v1.ListVmsRequest") {
    vmm::v1::ListVmsRequest request;
    if (!Parse(data, size, &request)) return 0;
    vmm::v1::ListVmsResponse response;
    const grpc::Status status = service.ListVms(nullptr, &request, &response);
    // No VMs without KVM; a selector that does not parse is the request's error, named.
    const bool selector_ok = LabelSelector::Parse(request.label_selector()).ok();
    const grpc::StatusCode code = CheckedCode(status, "ListVms");
    FUZZ_CHECK(selector_ok ? code == grpc::StatusCode::OK && response.vms_size() == 0
                           : code == grpc::StatusCode::INVALID_ARGUMENT &&
                                 absl::StrContains(status.error_message(), "label_selector"),
               "ListVms without KVM: " + status.error_message());
  } else if (type == "vmm.v1.PauseVmRequest") {
    vmm::v1::PauseVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    CheckNamesVm(service.PauseVm(nullptr, &request, &vm), request.vm_id(), "PauseVm");
  } else if (type == "vmm.v1.ResumeVmRequest") {
    vmm::v1::ResumeVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    CheckNamesVm(service.ResumeVm(nullptr, &request, &vm), request.vm_id(), "ResumeVm");
  } else if (type == "vmm.v1.StopVmRequest") {
    vmm::v1::StopVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    CheckNamesVm(service.StopVm(nullptr, &request, &vm), request.vm_id(), "StopVm");
  } else if (type == "vmm.v1.DeleteVmRequest") {
    vmm::v1::DeleteVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    vmm::v1::DeleteVmResponse response;
    CheckNamesVm(service.DeleteVm(nullptr, &request, &response), request.vm_id(), "DeleteVm");
  } else if (type == "vmm.v1.StreamConsoleRequest") {
    vmm::v1::StreamConsoleRequest request;
    if (!Parse(data, size, &request)) return 0;
    // The callback handler answers a stream it cannot open with VmManager::Get's status.
    CheckNamesVm(ToGrpcStatus(Manager().Get(request.vm_id()).status()), request.vm_id(),
                 "StreamConsole");
  } else if (type == "vmm.v1.WatchVmRequest") {
    vmm::v1::WatchVmRequest request;
    if (!Parse(data, size, &request)) return 0;
    CheckNamesVm(ToGrpcStatus(Manager().Get(request.vm_id()).status()), request.vm_id(),
                 "WatchVm");
  } else {
    FUZZ_CHECK(false, "request_kinds.h names a message this fuzzer does not handle: " + type);
  }
  return 0;
}
