// The network devices side by side: one Linux guest (Debian's generic kernel,
// bench/network_guest as /init with Debian's virtio modules) moving data to and from this
// host over TCP through a virtio-net interface on a tap, and over vsock, booted under vmmd
// (through its gRPC API: a network interface on --vmmd_tap, a vsock device whose Unix socket
// lies in --vsock_dir) and under QEMU microvm (virtio-net-device on --qemu_tap, with vhost-net
// where /dev/vhost-net exists; vhost-vsock-device where /dev/vhost-vsock exists, else QEMU's
// vsock is "not available"), in alternating runs. The guest connects; this program serves
// and times each transfer on the host side (see network_guest.c for the protocol), and must
// run in the taps' network namespace. The taps exist, are up and have SUBNET.1/24 (tools/bench
// makes them); the guest takes SUBNET.2.
//
//   network_bench --target=unix:/tmp/x/vmmd.sock --work_dir=IMAGE_ROOT --kernel=vmlinuz
//                 --modules=DIR --init=network_guest --vmmd_tap=vmmdb0 --vmmd_subnet=10.77.1
//                 --qemu_tap=qemub0 --qemu_subnet=10.77.2 --vsock_dir=VSOCK_ROOT --out=net.json
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
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
constexpr size_t kHeader = 16;  // "S 0000000000042\n": network_guest.c
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

// The host's side of one run: serves the guest's connections on a thread, one at a time,
// timing each transfer, until Stop().
class HostServer {
 public:
  // `listeners`: listening fds (not owned) and the transport each serves ("tcp", "vsock").
  explicit HostServer(std::vector<std::pair<int, std::string>> listeners)
      : listeners_(std::move(listeners)), stop_(eventfd(0, EFD_CLOEXEC)), thread_([this] { Serve(); }) {}

  // Joins the thread; then figures() and errors() are complete.
  void Stop() {
    const uint64_t one = 1;
    if (write(stop_, &one, sizeof(one)) < 0) std::perror("network_bench: eventfd");
    thread_.join();
    close(stop_);
  }

  // MiB/s by figure name ("tcp_guest_to_host_mib_s", ...).
  const std::map<std::string, double>& figures() const { return figures_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  void Serve() {
    std::vector<pollfd> fds;
    for (const auto& [fd, transport] : listeners_) fds.push_back({fd, POLLIN, 0});
    fds.push_back({stop_, POLLIN, 0});
    for (;;) {
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        errors_.push_back(absl::StrCat("poll: ", std::strerror(errno)));
        return;
      }
      if (fds.back().revents != 0) return;
      for (size_t i = 0; i + 1 < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const int connection = accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) continue;
        Transfer(connection, listeners_[i].second);
        close(connection);
      }
    }
  }

  void Transfer(int fd, const std::string& transport) {
    timeval timeout = {60, 0};  // a stalled guest fails the transfer instead of hanging the run
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    char header[kHeader + 1] = {};
    if (!ReadAll(fd, header, kHeader) || (header[0] != 'S' && header[0] != 'R')) {
      errors_.push_back(absl::StrCat(transport, ": no header"));
      return;
    }
    const bool guest_sends = header[0] == 'S';
    const uint64_t bytes = std::strtoull(header + 2, nullptr, 10);
    const std::string name =
        absl::StrCat(transport, guest_sends ? "_guest_to_host" : "_host_to_guest", "_mib_s");
    std::vector<char> buffer(kChunk);
    for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>(i * 31 + 1);
    char ack = 'k';
    const double started = NowMs();
    bool ok = true;
    for (uint64_t left = bytes; ok && left > 0;) {
      const size_t n = left < kChunk ? left : kChunk;
      ok = guest_sends ? ReadAll(fd, buffer.data(), n) : WriteAll(fd, buffer.data(), n);
      left -= n;
    }
    ok = ok && (guest_sends ? WriteAll(fd, &ack, 1) : ReadAll(fd, &ack, 1));
    const double seconds = (NowMs() - started) / 1000;
    if (!ok || seconds <= 0) {
      errors_.push_back(absl::StrCat(name, ": ", std::strerror(errno)));
      return;
    }
    figures_[name] = static_cast<double>(bytes) / (1 << 20) / seconds;
  }

  const std::vector<std::pair<int, std::string>> listeners_;
  const int stop_;
  std::map<std::string, double> figures_;
  std::vector<std::string> errors_;
  std::thread thread_;  // last: it starts once the rest is built
};

std::string Cmdline(const std::string& subnet, bool vsock) {
  return absl::StrCat("console=ttyS0 reboot=k panic=-1 quiet netbench.addr=", subnet, ".2 netbench.host=", subnet,
                      ".1 netbench.port=", absl::GetFlag(FLAGS_port), " netbench.mib=",
                      absl::GetFlag(FLAGS_transfer_mib), " netbench.vsock=", vsock ? 1 : 0);
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

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_work_dir);
  const std::string initrd = dir + "/network_bench.cpio";
  if (!PrepareGuest("network_bench", initrd)) return 1;
  if (absl::GetFlag(FLAGS_vmmd_tap).empty() || absl::GetFlag(FLAGS_vsock_dir).empty() ||
      (!absl::GetFlag(FLAGS_qemu).empty() && absl::GetFlag(FLAGS_qemu_tap).empty())) {
    std::fprintf(stderr, "network_bench: --vmmd_tap, --qemu_tap and --vsock_dir are required\n");
    return 2;
  }
  const int port = absl::GetFlag(FLAGS_port);
  sockaddr_in any = {};
  any.sin_family = AF_INET;
  any.sin_port = htons(static_cast<uint16_t>(port));
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  const int tcp = Listen(AF_INET, reinterpret_cast<sockaddr*>(&any), sizeof(any), "TCP");
  // vmmd: a guest's connection to the host's port P reaches <uds_path>_P.
  const std::string uds_path = absl::GetFlag(FLAGS_vsock_dir) + "/net.sock";
  sockaddr_un unix_address = {};
  unix_address.sun_family = AF_UNIX;
  std::snprintf(unix_address.sun_path, sizeof(unix_address.sun_path), "%s_%d", uds_path.c_str(), port);
  unlink(unix_address.sun_path);
  const int vmmd_vsock = Listen(AF_UNIX, reinterpret_cast<sockaddr*>(&unix_address), sizeof(unix_address),
                                unix_address.sun_path);
  // QEMU: vhost-vsock delivers the guest's connections to AF_VSOCK listeners here.
  const bool qemu_vsock = Exists("/dev/vhost-vsock");
  int qemu_vsock_listener = -1;
  if (qemu_vsock && !absl::GetFlag(FLAGS_qemu).empty()) {
    sockaddr_vm vm = {};
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = VMADDR_CID_ANY;
    vm.svm_port = static_cast<unsigned>(port);
    qemu_vsock_listener = Listen(AF_VSOCK, reinterpret_cast<sockaddr*>(&vm), sizeof(vm), "AF_VSOCK");
    if (qemu_vsock_listener < 0) return 1;
  }
  if (tcp < 0 || vmmd_vsock < 0) return 1;

  const std::vector<GuestRun> runs =
      RunAlternating("network_bench", [&](bool vmmd, int index, vmm::v1::VmmService::Stub& stub) {
        HostServer server({{tcp, "tcp"}, {vmmd ? vmmd_vsock : qemu_vsock_listener, "vsock"}});
        GuestRun run;
        if (vmmd) {
          vmm::v1::CreateVmRequest create;
          create.set_vm_id(absl::StrCat("net", index));
          vmm::v1::NetworkInterface* interface = create.add_network_interfaces();
          interface->set_iface_id("eth0");
          interface->set_host_dev_name(absl::GetFlag(FLAGS_vmmd_tap));
          create.mutable_vsock()->set_guest_cid(absl::GetFlag(FLAGS_guest_cid));
          create.mutable_vsock()->set_uds_path(uds_path);
          run = RunUnderVmmd(stub, create, initrd, Cmdline(absl::GetFlag(FLAGS_vmmd_subnet), true));
        } else {
          run = RunUnderQemu(QemuMicrovmArgs(initrd, Cmdline(absl::GetFlag(FLAGS_qemu_subnet), qemu_vsock),
                                             QemuDevices(qemu_vsock)));
        }
        server.Stop();
        run.figures = server.figures();
        if (run.error.empty() && !server.errors().empty()) run.error = absl::StrJoin(server.errors(), "; ");
        CheckRun(run, kPrefix, vmmd || qemu_vsock ? kAllFigures : kTcpFigures);
        return run;
      });
  unlink(unix_address.sun_path);
  const std::string qemu_command =
      absl::GetFlag(FLAGS_qemu).empty()
          ? ""
          : absl::StrJoin(QemuMicrovmArgs("INITRD", Cmdline(absl::GetFlag(FLAGS_qemu_subnet), qemu_vsock),
                                          QemuDevices(qemu_vsock)),
                          " ");
  JsonObject out;
  out.Integer("transfer_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_transfer_mib)))
      .String("qemu_command", qemu_command)
      .String("qemu_net", Exists("/dev/vhost-net") ? "vhost=on: the host has /dev/vhost-net"
                                                   : "vhost=off: the host has no /dev/vhost-net")
      .Bool("qemu_vsock", qemu_vsock);
  return WriteResults(runs, kAllFigures, qemu_vsock ? kAllFigures : kTcpFigures, std::move(out));
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
