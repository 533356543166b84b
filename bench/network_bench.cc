// The network devices side by side: one Linux guest (Debian's generic kernel,
// bench/network_guest as /init with Debian's virtio modules) moving data to and from this
// host over TCP through a virtio-net interface on a tap, and over vsock, booted under vmmd
// (through its gRPC API: a network interface on --vmmd_tap, a vsock device whose Unix socket
// lies in --vsock_dir) and under QEMU microvm (virtio-net-device on --qemu_tap, with vhost-net
// where /dev/vhost-net exists; vhost-vsock-device where /dev/vhost-vsock exists, else QEMU's
// vsock is "not available"). Both guests boot at once and run --rounds of the four transfers;
// this program serves and times them on the host side, one guest at a time, each transfer of
// one guest right after the same transfer of the other (see network_guest.c for the
// protocol), so that the ratio of each pair is taken in one phase of the host. It must run in
// the taps' network namespace. The taps exist, are up and have SUBNET.1/24 (tools/bench makes
// them); the guest takes SUBNET.2.
//
//   network_bench --target=unix:/tmp/x/vmmd.sock --work_dir=IMAGE_ROOT --kernel=vmlinuz
//                 --modules=DIR --init=network_guest --vmmd_tap=vmmdb0 --vmmd_subnet=10.77.1
//                 --qemu_tap=qemub0 --qemu_subnet=10.77.2 --vsock_dir=VSOCK_ROOT --out=net.json
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/linux_guest.h"
#include "bench/stats.h"
#include "vmm/v1/vmm.grpc.pb.h"

ABSL_FLAG(std::string, vmmd_tap, "", "an existing persistent tap for vmmd's guest, up, with SUBNET.1/24");
ABSL_FLAG(std::string, vmmd_subnet, "10.77.1", "--vmmd_tap's /24, as its first three numbers");
ABSL_FLAG(std::string, qemu_tap, "", "the same for QEMU's guest");
ABSL_FLAG(std::string, qemu_subnet, "10.77.2", "--qemu_tap's /24");
ABSL_FLAG(std::string, vsock_dir, "", "vmmd's --vsock_root: the guest's vsock Unix sockets go here");
ABSL_FLAG(uint32_t, guest_cid, 42, "the guest's vsock context id, under both VMMs");
ABSL_FLAG(int, port, 5201, "the host's TCP and vsock port");
ABSL_FLAG(uint64_t, transfer_mib, 64, "MiB moved by each transfer");

namespace vmmd::bench {
namespace {

constexpr char kPrefix[] = "vmmd-netbench: ";
constexpr size_t kHeader = 16;      // "S 0000000000042\n": network_guest.c
constexpr size_t kCostRecord = 64;  // "C 120 30 0 5321\n" and NULs: network_guest.c
constexpr size_t kChunk = 256 << 10;
const std::vector<std::string> kTcpFigures = {"tcp_guest_to_host_mib_s", "tcp_host_to_guest_mib_s"};
const std::vector<std::string> kAllFigures = {"tcp_guest_to_host_mib_s", "tcp_host_to_guest_mib_s",
                                              "vsock_guest_to_host_mib_s", "vsock_host_to_guest_mib_s"};

bool Exists(const char* path) { return access(path, F_OK) == 0; }

// A listening socket of `family` bound to `address`; -1 (said on stderr) on failure.
int Listen(int family, const sockaddr* address, socklen_t length, const std::string& name) {
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0 && family == AF_INET) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, address, length) != 0 || listen(fd, 4) != 0) {
    std::fprintf(stderr, "network_bench: cannot listen on %s: %s\n", name.c_str(), std::strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

bool ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The next connection on `listener`, once `side`'s guest makes it: -1 (an error said in
// side.error) when its boot ends or --timeout_s passes first.
int AcceptNext(Side& side, int listener) {
  const double deadline = NowMs() + absl::GetFlag(FLAGS_timeout_s) * 1000;
  while (NowMs() < deadline && !side.stopped) {
    pollfd fd = {listener, POLLIN, 0};
    if (poll(&fd, 1, 1000) <= 0) continue;  // a second at a time, to see the boot end
    const int connection = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection >= 0) return connection;
  }
  side.error = side.stopped ? "the guest stopped before its transfers were done" : "no connection in time";
  return -1;
}

// CPU time (ms) a VMM's process spent so far, from each thread's schedstat: its vCPU threads
// (the guest running, and its exits), the rest (the device side: vmmd's event loops, QEMU's
// threads), and, for QEMU, its vhost workers (kernel threads named vhost-<pid> on Linux 6.1).
struct VmmCpu {
  double vcpu_ms = 0, device_ms = 0;
};

// The first number in /proc/<path>/schedstat (ns on the CPU) and /proc/<path>/comm.
bool ReadTask(const std::string& path, double& ms, std::string& comm) {
  std::ifstream schedstat(path + "/schedstat"), name(path + "/comm");
  double ns = 0;
  if (!(schedstat >> ns) || !std::getline(name, comm)) return false;
  ms = ns / 1e6;
  return true;
}

VmmCpu ReadVmmCpu(pid_t pid) {
  VmmCpu cpu;
  if (pid <= 0) return cpu;
  const std::string process = absl::StrCat("/proc/", pid);
  if (DIR* tasks = opendir((process + "/task").c_str())) {
    while (const dirent* task = readdir(tasks)) {
      double ms = 0;
      std::string comm;
      if (task->d_name[0] == '.' || !ReadTask(absl::StrCat(process, "/task/", task->d_name), ms, comm)) continue;
      // vmmd names them "<vm id>/vcpuN", QEMU "CPU N/KVM".
      (comm.find("/vcpu") != std::string::npos || comm.rfind("CPU ", 0) == 0 ? cpu.vcpu_ms : cpu.device_ms) += ms;
    }
    closedir(tasks);
  }
  const std::string vhost = absl::StrCat("vhost-", pid);
  if (DIR* all = opendir("/proc")) {
    while (const dirent* entry = readdir(all)) {
      double ms = 0;
      std::string comm;
      if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
      if (ReadTask(absl::StrCat("/proc/", entry->d_name), ms, comm) && comm == vhost) cpu.device_ms += ms;
    }
    closedir(all);
  }
  return cpu;
}

// The process serving `target` ("unix:PATH"), by SO_PEERCRED; 0 if it cannot be told.
pid_t ServerPid(const std::string& target) {
  if (target.rfind("unix:", 0) != 0) return 0;
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", target.c_str() + 5);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ucred credentials = {};
  socklen_t length = sizeof(credentials);
  const bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0;
  if (fd >= 0) close(fd);
  return ok ? credentials.pid : 0;
}

// This thread's CPU time so far (ms): the host program's side of a transfer.
double ThreadCpuMs() {
  timespec now = {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// What one transfer cost the guest, from its go to its acknowledgement, as the guest counted
// it (/proc/stat: CPU time at USER_HZ resolution, interrupts).
struct GuestCost {
  double busy_ms = 0, idle_ms = 0, steal_ms = 0, interrupts = 0;
  // And what it cost this machine, as the host counted it: the VMM's vCPU threads, its other
  // threads (and vhost workers), and the host program's thread.
  double vcpu_ms = 0, device_ms = 0, host_program_ms = 0;
};

// Serves `side`'s next transfer, which is to be over `transport` with the guest sending
// (`op` 'S') or receiving ('R'): reads its header, gives the go, moves the bytes, and returns
// MiB/s from the go to the last byte (guest to host) or to the guest's acknowledgement (host
// to guest), and the guest's record of its cost into `cost`. 0, with side.error set, on
// failure. A connection that closes before its header (the guest gave up on a slow connect
// and made another) is passed over.
double ServeTransfer(Side& side, pid_t vmm_pid, int listener, const std::string& transport, char op,
                     GuestCost& cost) {
  const std::string name = absl::StrCat(transport, op == 'S' ? "_guest_to_host" : "_host_to_guest");
  char header[kHeader + 1] = {};
  int fd = -1;
  for (int attempt = 0; attempt < 4 && fd < 0; ++attempt) {
    fd = AcceptNext(side, listener);
    if (fd < 0) return 0;
    timeval timeout = {60, 0};  // a stalled guest fails the transfer instead of hanging the run
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (!ReadAll(fd, header, kHeader)) {
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0 || header[0] != op) {
    side.error = absl::StrCat(name, fd < 0 ? ": no header" : absl::StrCat(": header \"", header, "\""));
    if (fd >= 0) close(fd);
    return 0;
  }
  const uint64_t bytes = std::strtoull(header + 2, nullptr, 10);
  std::vector<char> buffer(kChunk);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>(i * 31 + 1);
  char go = 'g', ack = 'k';
  const VmmCpu vmm_before = ReadVmmCpu(vmm_pid);
  const double host_program_before = ThreadCpuMs();
  const double started = NowMs();
  bool ok = WriteAll(fd, &go, 1);
  for (uint64_t left = bytes; ok && left > 0;) {
    const size_t n = left < kChunk ? left : kChunk;
    ok = op == 'S' ? ReadAll(fd, buffer.data(), n) : WriteAll(fd, buffer.data(), n);
    left -= n;
  }
  ok = ok && (op == 'S' ? WriteAll(fd, &ack, 1) : ReadAll(fd, &ack, 1));
  const double seconds = (NowMs() - started) / 1000;
  const double host_program_after = ThreadCpuMs();
  const VmmCpu vmm_after = ReadVmmCpu(vmm_pid);
  cost.vcpu_ms = vmm_after.vcpu_ms - vmm_before.vcpu_ms;
  cost.device_ms = vmm_after.device_ms - vmm_before.device_ms;
  cost.host_program_ms = host_program_after - host_program_before;
  char record[kCostRecord + 1] = {};
  ok = ok && ReadAll(fd, record, kCostRecord);
  const int saved_errno = errno;
  close(fd);
  if (!ok || seconds <= 0) {
    side.error = absl::StrCat(name, ": ", std::strerror(saved_errno));
    return 0;
  }
  if (std::sscanf(record, "C %lf %lf %lf %lf", &cost.busy_ms, &cost.idle_ms, &cost.steal_ms, &cost.interrupts) != 4) {
    side.error = absl::StrCat(name, ": no cost record");
    return 0;
  }
  return static_cast<double>(bytes) / (1 << 20) / seconds;
}

std::string Cmdline(const std::string& subnet, bool vsock) {
  return absl::StrCat("console=ttyS0 reboot=k panic=-1 quiet netbench.addr=", subnet, ".2 netbench.host=", subnet,
                      ".1 netbench.port=", absl::GetFlag(FLAGS_port), " netbench.mib=",
                      absl::GetFlag(FLAGS_transfer_mib), " netbench.vsock=", vsock ? 1 : 0, " netbench.rounds=",
                      absl::GetFlag(FLAGS_warmup_rounds) + absl::GetFlag(FLAGS_rounds));
}

// QEMU's peer: virtio-net-device on the tap (vhost-net when the host has it), and
// vhost-vsock-device when the host has /dev/vhost-vsock.
std::vector<std::string> QemuDevices(bool vsock) {
  std::vector<std::string> devices = {
      "-netdev",
      absl::StrCat("tap,id=n0,ifname=", absl::GetFlag(FLAGS_qemu_tap), ",script=no,downscript=no,vhost=",
                   Exists("/dev/vhost-net") ? "on" : "off"),
      "-device", "virtio-net-device,netdev=n0"};
  if (vsock) {
    devices.insert(devices.end(),
                   {"-device", absl::StrCat("vhost-vsock-device,guest-cid=", absl::GetFlag(FLAGS_guest_cid))});
  }
  return devices;
}

// Per MiB moved, by VMM and figure: the guest's busy, idle and stolen CPU time (ms) and its
// interrupts over the counted rounds.
JsonObject CostSummaries(const std::map<std::string, std::map<std::string, std::vector<GuestCost>>>& costs) {
  const double mib = static_cast<double>(absl::GetFlag(FLAGS_transfer_mib));
  JsonObject out;
  for (const auto& [vmm, by_figure] : costs) {
    JsonObject figures;
    for (const auto& [figure, list] : by_figure) {
      std::vector<double> busy, idle, steal, interrupts, vcpu, device, host_program;
      for (const GuestCost& cost : list) {
        busy.push_back(cost.busy_ms / mib);
        idle.push_back(cost.idle_ms / mib);
        steal.push_back(cost.steal_ms / mib);
        interrupts.push_back(cost.interrupts / mib);
        vcpu.push_back(cost.vcpu_ms / mib);
        device.push_back(cost.device_ms / mib);
        host_program.push_back(cost.host_program_ms / mib);
      }
      JsonObject one;
      one.SummaryOf("busy_ms_per_mib", busy)
          .SummaryOf("idle_ms_per_mib", idle)
          .SummaryOf("steal_ms_per_mib", steal)
          .SummaryOf("interrupts_per_mib", interrupts)
          .SummaryOf("vmm_vcpu_ms_per_mib", vcpu)
          .SummaryOf("vmm_device_ms_per_mib", device)
          .SummaryOf("host_program_ms_per_mib", host_program);
      figures.Object(figure, one);
    }
    out.Object(vmm, figures);
  }
  return out;
}

// A listening TCP socket on SUBNET.1:--port, the address of one guest's tap.
int ListenTcp(const std::string& subnet) {
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(absl::GetFlag(FLAGS_port)));
  const std::string host = subnet + ".1";
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) return -1;
  return Listen(AF_INET, reinterpret_cast<sockaddr*>(&address), sizeof(address), "TCP " + host);
}

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_work_dir);
  const std::string initrd = dir + "/network_bench.cpio";
  if (!PrepareGuest("network_bench", initrd)) return 1;
  const bool with_qemu = !absl::GetFlag(FLAGS_qemu).empty();
  if (absl::GetFlag(FLAGS_vmmd_tap).empty() || absl::GetFlag(FLAGS_vsock_dir).empty() ||
      (with_qemu && absl::GetFlag(FLAGS_qemu_tap).empty())) {
    std::fprintf(stderr, "network_bench: --vmmd_tap, --qemu_tap and --vsock_dir are required\n");
    return 2;
  }
  const int port = absl::GetFlag(FLAGS_port);
  Side vmmd{"vmmd", "net"}, qemu{"qemu"};
  std::map<const Side*, std::map<std::string, int>> listeners;  // by transport, "tcp" and "vsock"
  // vmmd: a guest's connection to the host's port P reaches <uds_path>_P.
  const std::string uds_path = absl::GetFlag(FLAGS_vsock_dir) + "/net.sock";
  sockaddr_un unix_address = {};
  unix_address.sun_family = AF_UNIX;
  std::snprintf(unix_address.sun_path, sizeof(unix_address.sun_path), "%s_%d", uds_path.c_str(), port);
  unlink(unix_address.sun_path);
  listeners[&vmmd]["tcp"] = ListenTcp(absl::GetFlag(FLAGS_vmmd_subnet));
  listeners[&vmmd]["vsock"] = Listen(AF_UNIX, reinterpret_cast<sockaddr*>(&unix_address), sizeof(unix_address),
                                     unix_address.sun_path);
  // QEMU: vhost-vsock delivers the guest's connections to AF_VSOCK listeners here.
  const bool qemu_vsock = with_qemu && Exists("/dev/vhost-vsock");
  if (with_qemu) listeners[&qemu]["tcp"] = ListenTcp(absl::GetFlag(FLAGS_qemu_subnet));
  if (qemu_vsock) {
    sockaddr_vm vm = {};
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = VMADDR_CID_ANY;
    vm.svm_port = static_cast<unsigned>(port);
    listeners[&qemu]["vsock"] = Listen(AF_VSOCK, reinterpret_cast<sockaddr*>(&vm), sizeof(vm), "AF_VSOCK");
  }
  bool listening = true;
  for (const auto& [side, fds] : listeners) {
    for (const auto& [transport, fd] : fds) listening = listening && fd >= 0;
  }
  const auto close_listeners = [&] {
    for (const auto& [side, fds] : listeners) {
      for (const auto& [transport, fd] : fds) {
        if (fd >= 0) close(fd);
      }
    }
    listeners.clear();
  };
  if (!listening) {
    close_listeners();
    return 1;
  }

  const auto stub = VmmdStub();
  const auto boot_vmmd = [&] {
    vmm::v1::CreateVmRequest create;
    create.set_vm_id(vmmd.vm_id);
    vmm::v1::NetworkInterface* interface = create.add_network_interfaces();
    interface->set_iface_id("eth0");
    interface->set_host_dev_name(absl::GetFlag(FLAGS_vmmd_tap));
    create.mutable_vsock()->set_guest_cid(absl::GetFlag(FLAGS_guest_cid));
    create.mutable_vsock()->set_uds_path(uds_path);
    return RunUnderVmmd(*stub, create, initrd, Cmdline(absl::GetFlag(FLAGS_vmmd_subnet), true));
  };
  const auto boot_qemu = [&] {
    return RunUnderQemu(QemuMicrovmArgs(initrd, Cmdline(absl::GetFlag(FLAGS_qemu_subnet), qemu_vsock),
                                        QemuDevices(qemu_vsock)),
                        &qemu.pid);
  };
  std::map<std::string, std::map<std::string, std::vector<GuestCost>>> costs;  // by VMM, by figure
  const pid_t vmmd_pid = ServerPid(absl::GetFlag(FLAGS_target));
  const auto serve = [&] {
    ServeRounds("network_bench", *stub, with_qemu ? std::vector<Side*>{&vmmd, &qemu} : std::vector<Side*>{&vmmd},
                kAllFigures, [&](Side& side, size_t step, int number) -> std::optional<double> {
                  // kAllFigures' order: TCP out and in, then vsock out and in.
                  const std::string transport = step < 2 ? "tcp" : "vsock";
                  const auto listener = listeners[&side].find(transport);
                  if (listener == listeners[&side].end()) return std::nullopt;
                  GuestCost cost;
                  const double mib_s = ServeTransfer(side, &side == &vmmd ? vmmd_pid : qemu.pid.load(), listener->second,
                                                     transport, step % 2 == 0 ? 'S' : 'R', cost);
                  if (side.error.empty() && (number - 1) / static_cast<int>(kAllFigures.size()) >=
                                                absl::GetFlag(FLAGS_warmup_rounds)) {
                    costs[side.vmm][kAllFigures[step]].push_back(cost);
                  }
                  return mib_s;
                });
    // Resets the connections a failed guest still waits on, so that it fails and stops now.
    close_listeners();
  };
  const std::vector<std::string>& qemu_figures = qemu_vsock ? kAllFigures : kTcpFigures;
  JsonObject out;
  out.Integer("transfer_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_transfer_mib)))
      .String("qemu_command",
              with_qemu ? absl::StrJoin(QemuMicrovmArgs("INITRD", Cmdline(absl::GetFlag(FLAGS_qemu_subnet), qemu_vsock),
                                                        QemuDevices(qemu_vsock)),
                                        " ")
                        : "")
      .String("qemu_net", Exists("/dev/vhost-net") ? "vhost=on: the host has /dev/vhost-net"
                                                   : "vhost=off: the host has no /dev/vhost-net")
      .Bool("qemu_vsock", qemu_vsock);
  const int status = RunSideBySide(vmmd, qemu, boot_vmmd, boot_qemu, serve, kPrefix, kAllFigures, qemu_figures,
                                   std::move(out), [&](JsonObject& results) {
                                     results.Object("guest_cost", CostSummaries(costs));
                                   });
  unlink(unix_address.sun_path);
  return status;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
