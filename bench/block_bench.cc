// The block device side by side: one Linux guest (Debian's generic kernel, bench/block_guest
// as /init with Debian's virtio modules) measuring its /dev/vda with O_DIRECT, booted under
// vmmd (through its gRPC API, a raw image as a read-write drive) and under QEMU microvm
// (virtio-blk-device on the same kind of image) at once. Each guest has a second drive, a
// control image of one block, through which this program paces it (block_guest.c): one guest
// works at a time, each step of one guest right after the same step of the other, --rounds
// times, so that the ratio of each pair is taken in one phase of the host. Each guest's image
// is --image_mib, filled with data first so that no read hits a hole.
//
//   block_bench --target=unix:/tmp/x/vmmd.sock --work_dir=IMAGE_ROOT --kernel=vmlinuz
//               --modules=DIR --init=block_guest --rounds=7 --out=block.json
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/linux_guest.h"
#include "bench/stats.h"
#include "vmm/v1/vmm.grpc.pb.h"

ABSL_FLAG(uint64_t, image_mib, 256, "size of the guest's disk");
ABSL_FLAG(double, random_seconds, 5, "how long the guest does random 4 KiB reads");

namespace vmmd::bench {
namespace {

constexpr char kPrefix[] = "vmmd-blkbench: ";
constexpr int kSector = 512;
const std::vector<std::string> kFigures = {"seq_write_mib_s", "seq_read_mib_s", "rand_read_iops"};

// The guest's command line under both VMMs; vmmd appends its virtio_mmio.device= part, and
// QEMU microvm (auto-kernel-cmdline) its own.
std::string Cmdline() {
  return absl::StrCat("console=ttyS0 reboot=k panic=-1 quiet blkbench.random_seconds=",
                      absl::GetFlag(FLAGS_random_seconds), " blkbench.rounds=",
                      absl::GetFlag(FLAGS_warmup_rounds) + absl::GetFlag(FLAGS_rounds));
}

// A fresh image of --image_mib, every block written (no holes to read fast).
bool WriteImage(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::string block(1 << 20, '\0');
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 7 + 3);
  for (uint64_t i = 0; i < absl::GetFlag(FLAGS_image_mib); ++i) out << block;
  return static_cast<bool>(out.flush());
}

// The text of sector `index` of `path` ("" when it cannot be read), up to its first NUL.
std::string ReadSector(const std::string& path, int index) {
  char sector[kSector] = {};
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = pread(fd, sector, sizeof(sector) - 1, index * kSector);
  close(fd);
  return n > 0 ? std::string(sector) : "";
}

// Puts `text` into the first sector of the control image `path`, where the guest polls.
bool WriteControl(const std::string& path, const std::string& text) {
  char sector[kSector] = {};
  std::snprintf(sector, sizeof(sector), "%s\n", text.c_str());
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  const bool ok = fd >= 0 && pwrite(fd, sector, sizeof(sector), 0) == kSector;
  if (fd >= 0) close(fd);
  return ok;
}

// A control image: one 4 KiB block, no go given yet.
bool WriteControlImage(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << std::string(4096, '\0');
  return static_cast<bool>(out.flush());
}

// Gives `side`'s guest the go for step `number` (kFigures[step]'s measurement) through its
// control image and waits, polling the image's second sector every 10 ms, for the result the
// guest writes there. The figure; 0 with side.error set on failure.
double RunStep(Side& side, const std::string& control, size_t step, int number) {
  if (!WriteControl(control, absl::StrCat("go ", number))) {
    side.error = absl::StrCat("cannot write ", control);
    return 0;
  }
  const std::regex line(R"(vmmd-blkbench: step=(\d+) (seq_write|seq_read|rand_read) bytes=(\d+) ops=(\d+) seconds=([0-9.]+))");
  const double deadline = NowMs() + absl::GetFlag(FLAGS_timeout_s) * 1000;
  while (NowMs() < deadline && !side.stopped) {
    const std::string result = ReadSector(control, 1);
    std::smatch match;
    if (std::regex_search(result, match, line) && std::stoi(match[1]) == number) {
      const double bytes = std::stod(match[3]), ops = std::stod(match[4]), seconds = std::stod(match[5]);
      const std::string name = match[2];
      if (seconds <= 0 || absl::StrCat(name, name == "rand_read" ? "_iops" : "_mib_s") != kFigures[step]) break;
      return name == "rand_read" ? ops / seconds : bytes / (1 << 20) / seconds;
    }
    usleep(10 * 1000);
  }
  side.error = absl::StrCat(kFigures[step], ": ",
                            side.stopped ? "the guest stopped before its result" : "no result in time");
  return 0;
}

// The data drive and the control drive, each on the host's page cache with fdatasync on
// FLUSH, as vmmd's drives.
std::vector<std::string> QemuDevices(const std::string& image, const std::string& control) {
  return {"-drive", absl::StrCat("id=bench,file=", image, ",format=raw,if=none,cache=writeback"),
          "-device", "virtio-blk-device,drive=bench",
          "-drive", absl::StrCat("id=control,file=", control, ",format=raw,if=none,cache=writeback"),
          "-device", "virtio-blk-device,drive=control"};
}

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_work_dir);
  const std::string initrd = dir + "/block_bench.cpio";
  if (!PrepareGuest("block_bench", initrd)) return 1;
  Side vmmd{"vmmd", "blk"}, qemu{"qemu"};
  const auto image = [&](const Side& side) { return absl::StrCat(dir, "/block_bench_", side.vmm, ".img"); };
  const auto control = [&](const Side& side) { return absl::StrCat(dir, "/block_bench_", side.vmm, "_control.img"); };
  for (const Side* side : {&vmmd, &qemu}) {
    if (!WriteImage(image(*side)) || !WriteControlImage(control(*side))) {
      std::fprintf(stderr, "block_bench: cannot write the images in %s\n", dir.c_str());
      return 1;
    }
  }
  const auto stub = VmmdStub();
  const auto boot_vmmd = [&] {
    vmm::v1::CreateVmRequest create;
    create.set_vm_id(vmmd.vm_id);
    for (const auto& [id, path] : {std::pair{"bench", image(vmmd)}, {"control", control(vmmd)}}) {
      vmm::v1::Drive* drive = create.add_drives();
      drive->set_drive_id(id);
      drive->set_path(path);
    }
    return RunUnderVmmd(*stub, create, initrd, Cmdline());
  };
  const auto boot_qemu = [&] {
    return RunUnderQemu(QemuMicrovmArgs(initrd, Cmdline(), QemuDevices(image(qemu), control(qemu))), &qemu.pid);
  };
  const auto serve = [&] {
    ServeRounds("block_bench", *stub, absl::GetFlag(FLAGS_qemu).empty() ? std::vector<Side*>{&vmmd} : std::vector<Side*>{&vmmd, &qemu},
                kFigures, [&](Side& side, size_t step, int number) -> std::optional<double> {
                  return RunStep(side, control(side), step, number);
                });
    for (Side* side : {&vmmd, &qemu}) WriteControl(control(*side), "stop");
  };
  JsonObject out;
  out.Integer("image_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_image_mib)))
      .Number("random_seconds", absl::GetFlag(FLAGS_random_seconds))
      .String("qemu_command", absl::GetFlag(FLAGS_qemu).empty()
                                  ? ""
                                  : absl::StrJoin(QemuMicrovmArgs("INITRD", Cmdline(), QemuDevices("IMAGE", "CONTROL")), " "));
  const int status = RunSideBySide(vmmd, qemu, boot_vmmd, boot_qemu, serve, kPrefix, kFigures, kFigures, std::move(out));
  for (const Side* side : {&vmmd, &qemu}) {
    unlink(image(*side).c_str());
    unlink(control(*side).c_str());
  }
  return status;
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
