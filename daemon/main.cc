// vmmd: the VM daemon. Serves VmmService over gRPC (Unix socket by default), with health
// checking and reflection, until SIGTERM or SIGINT; then stops every VM and exits cleanly.
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "daemon/listen_address.h"
#include "daemon/metrics/metrics_http_server.h"
#include "daemon/metrics/metrics_page.h"
#include "daemon/metrics/rpc_metrics.h"
#include "daemon/server.h"
#include "daemon/vm_manager.h"
#include "daemon/vmm_service.h"
#include "glog/logging.h"
#include "grpcpp/health_check_service_interface.h"

ABSL_FLAG(std::string, listen, vmmd::kDefaultListenAddress,
          "unix:/path/to.sock, or tcp:HOST:PORT (beyond loopback only with --tls_cert_file "
          "and --tls_key_file)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain the TCP listener presents (TLS; with --tls_key_file)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificate(s): clients must present a certificate signed by one (mutual TLS)");
ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus metrics at /metrics on unix:/path/to.sock or tcp:HOST:PORT (loopback "
          "only); empty: no metrics endpoint");
ABSL_FLAG(std::vector<std::string>, image_root, {},
          "directory kernels and initrds may be loaded from (repeatable, or comma-separated)");
ABSL_FLAG(std::string, socket_group, "", "group allowed to use the Unix socket");
ABSL_FLAG(std::string, console_log_dir, "", "also write each VM's console to DIR/<vm_id>.log");
ABSL_FLAG(uint64_t, console_log_max_bytes, vmmd::ConsoleLogLimits().max_bytes,
          "largest console log file; at this size it becomes DIR/<vm_id>.log.1 (replacing the "
          "previous one) and a new file starts");
ABSL_FLAG(uint64_t, console_log_rate_bytes, vmmd::ConsoleLogLimits().rate_bytes,
          "console bytes a second each VM may log, sustained (0: no limit); more is dropped and "
          "counted (GetVm console_log)");
ABSL_FLAG(uint64_t, console_log_burst_bytes, vmmd::ConsoleLogLimits().burst_bytes,
          "console bytes each VM may log at once above the rate (a boot log)");
ABSL_FLAG(uint32_t, max_vcpus, 254, "most vCPUs one VM may have (at most 254)");
ABSL_FLAG(uint64_t, max_memory_mib, 64 * 1024, "most memory one VM may have, in MiB");
ABSL_FLAG(uint64_t, max_total_memory_mib, 0,
          "most memory all VMs together may have, in MiB, until deleted (0: no limit)");
ABSL_FLAG(uint32_t, max_vms, 1024, "most VMs that may exist at once, in any state, until deleted");
ABSL_FLAG(int32_t, worker_timeout_ms, 30000, "how long an RPC waits for a VM's worker thread");
ABSL_FLAG(std::string, kvm_device, "/dev/kvm", "the KVM device");
ABSL_FLAG(bool, coalesce_serial_output, true,
          "let KVM queue COM1 output while the guest polls the UART, instead of an exit per "
          "byte (false: every byte exits to vmmd)");
ABSL_FLAG(std::string, vsock_root, "",
          "directory under which CreateVm may make vsock sockets (Vsock.uds_path); empty: no "
          "vsock devices");
ABSL_FLAG(std::string, snapshot_root, "",
          "directory under which SnapshotVm writes and RestoreVm reads snapshots "
          "(snapshot_dir); empty: no snapshots");
ABSL_FLAG(bool, virtio_ring_features, true,
          "offer virtio drivers event-idx notification suppression and indirect descriptors "
          "(false: neither, to measure what they buy; tools/bench does)");
ABSL_FLAG(bool, virtio_net_offloads, true,
          "offer virtio-net drivers checksum and TCP segmentation offloads, which the tap "
          "then does with TUNSETOFFLOAD (false: none, every packet crosses the device "
          "checksummed and at most MTU-sized, to measure what they buy; tools/bench does)");
ABSL_FLAG(bool, transparent_huge_pages, false,
          "back guest RAM with transparent huge pages where the host allows them "
          "(/sys/kernel/mm/transparent_hugepage/enabled: madvise or always): faster guests, "
          "as QEMU and Cloud Hypervisor do by default; but every 2 MiB a guest touches may "
          "cost the host 2 MiB, so off by default, for density");

namespace {

// Each root as given and as its canonical path (when they differ, e.g. through a symlink), so
// that a request may name files either way; files are still resolved beneath the root.
std::vector<std::string> CanonicalRoots(const std::vector<std::string>& flag_values) {
  std::vector<std::string> roots;
  for (const std::string& value : flag_values) {
    for (size_t start = 0; start <= value.size();) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      std::string root = value.substr(start, comma - start);
      start = comma + 1;
      if (root.empty()) continue;
      char* resolved = ::realpath(root.c_str(), nullptr);
      if (resolved == nullptr) {
        LOG(WARNING) << "--image_root " << root << " does not exist; ignored";
        continue;
      }
      roots.push_back(resolved);
      ::free(resolved);
      while (root.size() > 1 && root.back() == '/') root.pop_back();
      if (root.front() == '/' && root != roots.back()) roots.push_back(root);
    }
  }
  return roots;
}

// A root directory from a flag, made if missing (a DaemonSet's hostPath holds only its
// parent; 0750, as /run/vmmd) and canonical; empty when unset or unusable (`without` says
// what that means).
std::string MadeRoot(const char* flag, const std::string& root, const char* without) {
  if (root.empty()) return "";
  if (::mkdir(root.c_str(), 0750) != 0 && errno != EEXIST) PLOG(WARNING) << flag << " " << root << ": mkdir";
  std::unique_ptr<char, decltype(&::free)> canonical(::realpath(root.c_str(), nullptr), &::free);
  if (canonical == nullptr) {
    LOG(WARNING) << flag << " " << root << " does not exist; " << without;
    return "";
  }
  return canonical.get();
}

}  // namespace

int main(int argc, char** argv) {
  const absl::Time started = absl::Now();
  absl::SetProgramUsageMessage("vmmd: creates and boots KVM virtual machines over gRPC");
  absl::ParseCommandLine(argc, argv);
  // One malloc arena: each VM brings threads that come and go, and glibc's per-thread
  // arenas fragmented the heap under churn (RSS crept ~0.6 KiB per VM cycle; with one arena
  // it levels off). vmmd's allocations are few and off the vCPU hot path.
  mallopt(M_ARENA_MAX, 1);
  // Debian's Abseil is built without NDEBUG, so absl::Mutex checks lock order on every
  // acquisition (a debugging aid: a graph of every mutex held together). That made a lock
  // 2.6x as costly here (118 ns against 46 ns for two nested ones), and the vCPU exit path
  // and the device loops take locks per exit and per event. The unit tests keep the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glog formats each line's time with mktime(), and with TZ unset glibc then stats (and may
  // reopen) /etc/localtime for every line. Naming the zone file once makes glibc read it
  // once: vCPU threads, whose seccomp filter allows no file access, can log as well.
  ::setenv("TZ", ":/etc/localtime", /*overwrite=*/0);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  // SIGTERM/SIGINT are taken by one thread with sigwait; every other thread inherits the
  // blocked mask. (The vCPU kick signal stays deliverable.)
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<vmmd::ListenAddress> address = vmmd::ParseListenAddress(absl::GetFlag(FLAGS_listen));
  if (!address.ok()) {
    LOG(ERROR) << address.status().message();
    return 2;
  }
  vmmd::TlsFiles tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      vmmd::MakeServerCredentials(*address, tls);
  if (!credentials.ok()) {
    LOG(ERROR) << credentials.status().message();
    return 2;
  }
  std::optional<vmmd::ListenAddress> metrics_address;
  if (const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen); !metrics_listen.empty()) {
    absl::StatusOr<vmmd::ListenAddress> parsed = vmmd::ParseListenAddress(metrics_listen);
    if (!parsed.ok()) {
      LOG(ERROR) << "--metrics_listen: " << parsed.status().message();
      return 2;
    }
    metrics_address = *parsed;
  }
  const std::string group = absl::GetFlag(FLAGS_socket_group);
  if (absl::Status prepared = vmmd::PrepareUnixSocket(*address, group); !prepared.ok()) {
    LOG(ERROR) << prepared.message();
    return 1;
  }

  std::unique_ptr<vmmd::KvmSystem> kvm;
  if (absl::StatusOr<vmmd::KvmSystem> opened = vmmd::KvmSystem::Open(absl::GetFlag(FLAGS_kvm_device));
      opened.ok()) {
    kvm = std::make_unique<vmmd::KvmSystem>(std::move(*opened));
  } else {
    LOG(WARNING) << opened.status().message() << "; CreateVm will answer UNAVAILABLE";
  }

  vmmd::VmManagerOptions options;
  options.image_roots = CanonicalRoots(absl::GetFlag(FLAGS_image_root));
  options.max_vcpus = absl::GetFlag(FLAGS_max_vcpus);
  options.max_memory_mib = absl::GetFlag(FLAGS_max_memory_mib);
  options.max_total_memory_mib = absl::GetFlag(FLAGS_max_total_memory_mib);
  options.max_vms = absl::GetFlag(FLAGS_max_vms);
  options.console_log_dir = absl::GetFlag(FLAGS_console_log_dir);
  options.vsock_root = MadeRoot("--vsock_root", absl::GetFlag(FLAGS_vsock_root),
                                "CreateVm will refuse vsock");
  options.snapshot_root = MadeRoot("--snapshot_root", absl::GetFlag(FLAGS_snapshot_root),
                                   "SnapshotVm and RestoreVm will refuse");
  options.console_log_limits.max_bytes = absl::GetFlag(FLAGS_console_log_max_bytes);
  options.console_log_limits.rate_bytes = absl::GetFlag(FLAGS_console_log_rate_bytes);
  options.console_log_limits.burst_bytes = absl::GetFlag(FLAGS_console_log_burst_bytes);
  if (options.console_log_limits.max_bytes == 0) {
    LOG(ERROR) << "--console_log_max_bytes must be at least 1";
    return 2;
  }
  options.worker_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_worker_timeout_ms));
  options.coalesce_serial_output = absl::GetFlag(FLAGS_coalesce_serial_output);
  options.virtio_ring_features = absl::GetFlag(FLAGS_virtio_ring_features);
  options.virtio_net_offloads = absl::GetFlag(FLAGS_virtio_net_offloads);
  options.transparent_huge_pages = absl::GetFlag(FLAGS_transparent_huge_pages);
  vmmd::VmManager manager(std::move(kvm), options);
  vmmd::VmmServiceImpl service(&manager);
  vmmd::metrics::RpcMetrics rpc_metrics;

  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      vmmd::StartServer(*address, &service, vmmd::ServerLimits(), *credentials, &rpc_metrics);
  if (!server.ok()) {
    LOG(ERROR) << server.status().message()
               << (tls.any() ? " (TLS: are --tls_cert_file and --tls_key_file a certificate and "
                               "its own key, both PEM?)"
                             : "");
    return 1;
  }
  if (absl::Status restricted = vmmd::RestrictUnixSocket(*address, group); !restricted.ok()) {
    LOG(ERROR) << restricted.message();
    return 1;
  }
  std::unique_ptr<vmmd::metrics::MetricsHttpServer> metrics_server;
  if (metrics_address) {
    absl::StatusOr<std::unique_ptr<vmmd::metrics::MetricsHttpServer>> started_metrics =
        vmmd::metrics::MetricsHttpServer::Start(*metrics_address, [&manager, &rpc_metrics, started] {
          return vmmd::metrics::RenderMetricsPage(manager, rpc_metrics, started);
        });
    if (!started_metrics.ok()) {
      LOG(ERROR) << started_metrics.status().message();
      return started_metrics.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    metrics_server = std::move(*started_metrics);
    LOG(INFO) << "vmmd metrics at http " << metrics_server->endpoint() << " /metrics";
  }
  const char* security = !tls.any()                   ? ""
                         : tls.client_ca_file.empty() ? " (TLS)"
                                                      : " (TLS, client certificates required)";
  LOG(INFO) << "vmmd serving on " << absl::GetFlag(FLAGS_listen) << security << " with "
            << options.image_roots.size() << " image root(s)";
  sd_notify(0, absl::StrCat("READY=1\nSTATUS=serving on ", absl::GetFlag(FLAGS_listen)).c_str());

  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    LOG(INFO) << "signal " << signal_number << ": stopping";
    sd_notify(0, "STOPPING=1");
    (*server)->GetHealthCheckService()->SetServingStatus(false);
    // Stopping the VMs first ends the console and event streams that follow them.
    manager.ShutdownAll();
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });
  (*server)->Wait();
  signal_waiter.join();
  metrics_server.reset();  // it reads the manager's VMs
  manager.ShutdownAll();
  if (address->is_unix) ::unlink(address->unix_path.c_str());
  LOG(INFO) << "vmmd stopped";
  return 0;
}
