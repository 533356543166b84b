// The block device side by side: one Linux guest (Debian's generic kernel, bench/block_guest
// as /init with Debian's virtio modules) measuring its /dev/vda with O_DIRECT, booted under
// vmmd (through its gRPC API, a raw image as a read-write drive) and under QEMU microvm
// (virtio-blk-device on the same kind of image), in alternating runs. Each run gets a fresh
// image of --image_mib, filled with data first so that no read hits a hole.
//
//   block_bench --target=unix:/tmp/x/vmmd.sock --work_dir=IMAGE_ROOT --kernel=vmlinuz
//               --modules=DIR --init=block_guest --runs=2 --out=block.json
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
const std::vector<std::string> kFigures = {"seq_write_mib_s", "seq_read_mib_s", "rand_read_iops"};

// The guest's command line under both VMMs; vmmd appends its virtio_mmio.device= part, and
// QEMU microvm (auto-kernel-cmdline) its own.
std::string Cmdline() {
  return absl::StrCat("console=ttyS0 reboot=k panic=-1 quiet blkbench.random_seconds=",
                      absl::GetFlag(FLAGS_random_seconds));
}

// A fresh image of --image_mib, every block written (no holes to read fast).
bool WriteImage(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::string block(1 << 20, '\0');
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 7 + 3);
  for (uint64_t i = 0; i < absl::GetFlag(FLAGS_image_mib); ++i) out << block;
  return static_cast<bool>(out.flush());
}

// Fills `run`'s figures from the guest's result lines.
void Parse(GuestRun& run) {
  const std::regex line(R"(vmmd-blkbench: (seq_write|seq_read|rand_read) bytes=(\d+) ops=(\d+) seconds=([0-9.]+))");
  for (auto it = std::sregex_iterator(run.console.begin(), run.console.end(), line);
       it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    const double bytes = std::stod((*it)[2]), ops = std::stod((*it)[3]), seconds = std::stod((*it)[4]);
    if (seconds <= 0) continue;
    if (name == "rand_read") {
      run.figures["rand_read_iops"] = ops / seconds;
    } else {
      run.figures[name + "_mib_s"] = bytes / (1 << 20) / seconds;
    }
  }
  CheckRun(run, kPrefix, kFigures);
}

std::vector<std::string> QemuDevices(const std::string& image) {
  // The host's page cache and fdatasync on FLUSH, as vmmd's drives.
  return {"-drive", absl::StrCat("id=bench,file=", image, ",format=raw,if=none,cache=writeback"),
          "-device", "virtio-blk-device,drive=bench"};
}

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_work_dir);
  const std::string initrd = dir + "/block_bench.cpio";
  if (!PrepareGuest("block_bench", initrd)) return 1;
  const std::vector<GuestRun> runs =
      RunAlternating("block_bench", [&](bool vmmd, int index, vmm::v1::VmmService::Stub& stub) {
        const std::string image = absl::StrCat(dir, "/block_bench_", vmmd ? "vmmd" : "qemu", ".img");
        GuestRun run;
        if (!WriteImage(image)) {
          run.error = absl::StrCat("cannot write ", image);
        } else if (vmmd) {
          vmm::v1::CreateVmRequest create;
          create.set_vm_id(absl::StrCat("blk", index));
          vmm::v1::Drive* drive = create.add_drives();
          drive->set_drive_id("bench");
          drive->set_path(image);
          run = RunUnderVmmd(stub, create, initrd, Cmdline());
        } else {
          run = RunUnderQemu(QemuMicrovmArgs(initrd, Cmdline(), QemuDevices(image)));
        }
        Parse(run);
        unlink(image.c_str());
        return run;
      });
  const std::string qemu_command =
      absl::GetFlag(FLAGS_qemu).empty() ? "" : absl::StrJoin(QemuMicrovmArgs("INITRD", Cmdline(), QemuDevices("IMAGE")), " ");
  JsonObject out;
  out.Integer("image_mib", static_cast<int64_t>(absl::GetFlag(FLAGS_image_mib)))
      .Number("random_seconds", absl::GetFlag(FLAGS_random_seconds))
      .String("qemu_command", qemu_command);
  return WriteResults(runs, kFigures, kFigures, std::move(out));
}

}  // namespace
}  // namespace vmmd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vmmd::bench::Main();
}
