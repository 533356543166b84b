#include "tools/vmmctl/args.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/vmmctl/command_table.h"

namespace vmmctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

constexpr char kCwd[] = "/home/me/work";

ParseResult Parse(std::vector<std::string> args) { return ParseArgs(args, kCwd); }

// The parsed invocation; fails the test (and returns a default) if parsing failed.
Invocation ParseOk(std::vector<std::string> args) {
  ParseResult result = Parse(args);
  EXPECT_TRUE(result.invocation.has_value()) << "error: " << result.error;
  return result.invocation.value_or(Invocation{});
}

TEST(ParseArgsTest, CreateDefaults) {
  Invocation invocation = ParseOk({"create"});
  EXPECT_EQ(invocation.command, Command::kCreate);
  EXPECT_EQ(invocation.vm_id, "");
  EXPECT_EQ(invocation.vcpu_count, 1u);
  EXPECT_EQ(invocation.memory_mib, 128u);
  EXPECT_TRUE(invocation.drives.empty());
  EXPECT_FALSE(invocation.entropy_device);
  EXPECT_FALSE(invocation.global.json);
  EXPECT_FALSE(invocation.global.address.has_value());
  EXPECT_EQ(invocation.global.timeout_s, 30);
}

TEST(ParseArgsTest, BothFlagFormsAndFlagsBeforeAndAfterTheCommand) {
  Invocation invocation =
      ParseOk({"--json", "--address=tcp:127.0.0.1:9", "create", "--id", "web-1", "--vcpus=4",
               "--memory-mib", "512", "--timeout_s", "7"});
  EXPECT_EQ(invocation.command, Command::kCreate);
  EXPECT_TRUE(invocation.global.json);
  EXPECT_THAT(invocation.global.address, Optional(std::string("tcp:127.0.0.1:9")));
  EXPECT_EQ(invocation.vm_id, "web-1");
  EXPECT_EQ(invocation.vcpu_count, 4u);
  EXPECT_EQ(invocation.memory_mib, 512u);
  EXPECT_EQ(invocation.global.timeout_s, 7);
}

TEST(ParseArgsTest, CommandFlagBeforeCommandIsAccepted) {
  Invocation invocation = ParseOk({"--vcpus", "2", "create"});
  EXPECT_EQ(invocation.vcpu_count, 2u);
}

TEST(ParseArgsTest, UnderscoreAndDashSpellingsAndSingleDash) {
  Invocation invocation = ParseOk({"create", "--memory_mib=64", "-json", "--timeout-s=0"});
  EXPECT_EQ(invocation.memory_mib, 64u);
  EXPECT_TRUE(invocation.global.json);
  EXPECT_EQ(invocation.global.timeout_s, 0);
}

TEST(ParseArgsTest, BooleanFlagTakesOnlyAnAttachedValue) {
  Invocation invocation = ParseOk({"console", "--follow=false", "vm-1", "--json=true"});
  EXPECT_FALSE(invocation.follow);
  EXPECT_TRUE(invocation.global.json);
  EXPECT_EQ(invocation.vm_id, "vm-1");
  // "--follow vm-1": vm-1 is the ID, not the flag's value.
  Invocation follow = ParseOk({"console", "--follow", "vm-2"});
  EXPECT_TRUE(follow.follow);
  EXPECT_EQ(follow.vm_id, "vm-2");
}

TEST(ParseArgsTest, EveryIdCommand) {
  const std::vector<std::pair<std::string, Command>> commands = {
      {"start", Command::kStart},   {"console", Command::kConsole}, {"get", Command::kGet},
      {"pause", Command::kPause},   {"resume", Command::kResume},   {"stop", Command::kStop},
      {"delete", Command::kDelete}, {"watch", Command::kWatch}};
  for (const auto& [name, command] : commands) {
    Invocation invocation = ParseOk({name, "vm-7"});
    EXPECT_EQ(invocation.command, command) << name;
    EXPECT_EQ(invocation.vm_id, "vm-7") << name;
  }
  EXPECT_EQ(ParseOk({"list"}).command, Command::kList);
}

TEST(ParseArgsTest, BootMakesPathsAbsolute) {
  Invocation invocation = ParseOk({"boot", "vm-1", "--kernel", "images/vmlinux", "--initrd=../initrd.img",
                                   "--cmdline", "console=ttyS0 quiet"});
  EXPECT_EQ(invocation.command, Command::kBoot);
  EXPECT_EQ(invocation.vm_id, "vm-1");
  EXPECT_EQ(invocation.kernel_path, "/home/me/work/images/vmlinux");
  EXPECT_EQ(invocation.initrd_path, "/home/me/initrd.img");
  EXPECT_EQ(invocation.cmdline, "console=ttyS0 quiet");
}

TEST(ParseArgsTest, AbsolutePathIsKept) {
  Invocation invocation = ParseOk({"boot", "vm-1", "--kernel=/srv/images/vmlinux"});
  EXPECT_EQ(invocation.kernel_path, "/srv/images/vmlinux");
  EXPECT_EQ(invocation.initrd_path, "");
}

TEST(ParseArgsTest, CmdlineValueMayStartWithADash) {
  Invocation invocation = ParseOk({"boot", "vm-1", "--kernel", "/k", "--cmdline", "-v"});
  EXPECT_EQ(invocation.cmdline, "-v");
}

TEST(ParseArgsTest, RunTakesEverything) {
  Invocation invocation = ParseOk({"run", "--kernel", "hello.elf", "--vcpus", "2", "--memory-mib=256",
                                   "--id", "r1", "--keep", "--cmdline=x", "--initrd", "/i"});
  EXPECT_EQ(invocation.command, Command::kRun);
  EXPECT_EQ(invocation.kernel_path, "/home/me/work/hello.elf");
  EXPECT_EQ(invocation.initrd_path, "/i");
  EXPECT_EQ(invocation.vcpu_count, 2u);
  EXPECT_EQ(invocation.memory_mib, 256u);
  EXPECT_EQ(invocation.vm_id, "r1");
  EXPECT_TRUE(invocation.keep);
  EXPECT_EQ(invocation.cmdline, "x");
}

TEST(ArgsTest, VsockTakesACidAndAPath) {
  Invocation invocation = ParseOk({"create", "--vsock", "42,v.sock"});
  EXPECT_TRUE(invocation.has_vsock);
  EXPECT_EQ(invocation.vsock_cid, 42u);
  EXPECT_EQ(invocation.vsock_uds_path, "/home/me/work/v.sock");
  EXPECT_FALSE(ParseOk({"create"}).has_vsock);
}

TEST(ArgsTest, NetFlagsAccumulateAsEth0Eth1) {
  Invocation invocation = ParseOk({"run", "--kernel", "k", "--net", "tap0", "--net", "tap1,02:00:00:00:00:01"});
  ASSERT_EQ(invocation.network_interfaces.size(), 2u);
  EXPECT_EQ(invocation.network_interfaces[0].iface_id, "eth0");
  EXPECT_EQ(invocation.network_interfaces[0].host_dev_name, "tap0");
  EXPECT_EQ(invocation.network_interfaces[0].guest_mac, "");
  EXPECT_EQ(invocation.network_interfaces[1].iface_id, "eth1");
  EXPECT_EQ(invocation.network_interfaces[1].host_dev_name, "tap1");
  EXPECT_EQ(invocation.network_interfaces[1].guest_mac, "02:00:00:00:00:01");
}

TEST(ParseArgsTest, DrivesAccumulateInOrderWithIdsOptionsAndAbsolutePaths) {
  Invocation invocation = ParseOk({"create", "--drive", "/a.img,ro,root", "--drive", "b.img"});
  ASSERT_EQ(invocation.drives.size(), 2u);
  EXPECT_EQ(invocation.drives[0].drive_id, "drive0");
  EXPECT_EQ(invocation.drives[0].path, "/a.img");
  EXPECT_TRUE(invocation.drives[0].read_only);
  EXPECT_TRUE(invocation.drives[0].is_root_device);
  EXPECT_EQ(invocation.drives[1].drive_id, "drive1");
  EXPECT_EQ(invocation.drives[1].path, "/home/me/work/b.img");
  EXPECT_FALSE(invocation.drives[1].read_only);
  EXPECT_FALSE(invocation.drives[1].is_root_device);
}

TEST(ParseArgsTest, DriveOptionsInEitherOrderAndPathsCleaned) {
  // Before the command too, in flag order; "--drive=" and a path cleaned like --kernel's.
  Invocation invocation = ParseOk({"--drive=../disks/./c.img,root", "run", "--kernel", "/k",
                                   "--drive", "d.img,root,ro", "--drive=/e.img,ro"});
  ASSERT_EQ(invocation.drives.size(), 3u);
  EXPECT_EQ(invocation.drives[0].drive_id, "drive0");
  EXPECT_EQ(invocation.drives[0].path, "/home/me/disks/c.img");
  EXPECT_FALSE(invocation.drives[0].read_only);
  EXPECT_TRUE(invocation.drives[0].is_root_device);
  EXPECT_EQ(invocation.drives[1].drive_id, "drive1");
  EXPECT_EQ(invocation.drives[1].path, "/home/me/work/d.img");
  EXPECT_TRUE(invocation.drives[1].read_only);
  EXPECT_TRUE(invocation.drives[1].is_root_device);
  EXPECT_EQ(invocation.drives[2].drive_id, "drive2");
  EXPECT_EQ(invocation.drives[2].path, "/e.img");
  EXPECT_TRUE(invocation.drives[2].read_only);
  EXPECT_FALSE(invocation.drives[2].is_root_device);
}

TEST(ParseArgsTest, EntropyIsABooleanFlag) {
  EXPECT_TRUE(ParseOk({"create", "--entropy"}).entropy_device);
  EXPECT_TRUE(ParseOk({"run", "--kernel", "/k", "--entropy=true"}).entropy_device);
  EXPECT_FALSE(ParseOk({"create", "--entropy=false"}).entropy_device);
  // Like --follow: the next word is not its value.
  EXPECT_EQ(Parse({"create", "--entropy", "yes"}).error, "create: unexpected argument 'yes'");
}

TEST(ParseArgsTest, LastValueOfARepeatedSingleValueFlagWins) {
  Invocation invocation = ParseOk({"--vcpus", "2", "create", "--vcpus", "3", "--entropy",
                                   "--entropy=false"});
  EXPECT_EQ(invocation.vcpu_count, 3u);
  EXPECT_FALSE(invocation.entropy_device);
}

TEST(ParseArgsTest, DoubleDashEndsFlags) {
  Invocation invocation = ParseOk({"get", "--", "-odd-id"});
  EXPECT_EQ(invocation.vm_id, "-odd-id");
}

TEST(ParseArgsTest, TlsFlagsAreGlobal) {
  Invocation invocation =
      ParseOk({"--tls_ca_file", "ca.pem", "list", "--tls-cert-file=me.crt", "--tls_key_file",
               "me.key", "--tls_server_name=vmmd.internal"});
  EXPECT_EQ(invocation.command, Command::kList);
  EXPECT_THAT(invocation.global.tls.ca_file, Optional(std::string("ca.pem")));
  EXPECT_THAT(invocation.global.tls.cert_file, Optional(std::string("me.crt")));
  EXPECT_THAT(invocation.global.tls.key_file, Optional(std::string("me.key")));
  EXPECT_THAT(invocation.global.tls.server_name, Optional(std::string("vmmd.internal")));
  // Every command takes them, `run` included.
  EXPECT_THAT(ParseOk({"run", "--kernel", "/k", "--tls_ca_file=/ca.pem"}).global.tls.ca_file,
              Optional(std::string("/ca.pem")));
}

TEST(ParseArgsTest, TlsFlagsUnsetByDefault) {
  const TlsFlags tls = ParseOk({"list"}).global.tls;
  EXPECT_FALSE(tls.ca_file.has_value());
  EXPECT_FALSE(tls.cert_file.has_value());
  EXPECT_FALSE(tls.key_file.has_value());
  EXPECT_FALSE(tls.server_name.has_value());
}

TEST(ParseArgsTest, TlsPathsAreKeptAsGiven) {
  // vmmctl reads them itself, from its own working directory: nothing to resolve.
  EXPECT_THAT(ParseOk({"list", "--tls_ca_file", "../ca.pem"}).global.tls.ca_file,
              Optional(std::string("../ca.pem")));
}

TEST(ParseArgsErrorTest, EmptyTlsValueIsNamed) {
  EXPECT_EQ(Parse({"list", "--tls_ca_file="}).error, "list: --tls_ca_file: empty value");
  EXPECT_EQ(Parse({"get", "vm", "--tls_server_name", ""}).error,
            "get: --tls_server_name: empty value");
  EXPECT_EQ(Parse({"list", "--tls_key_file"}).error,
            "list: flag --tls_key_file needs a value (--tls_key_file FILE)");
}

TEST(ParseArgsErrorTest, UnknownFlagIsNamed) {
  ParseResult result = Parse({"list", "--bogus"});
  EXPECT_FALSE(result.invocation.has_value());
  EXPECT_EQ(result.error, "list: unknown flag --bogus");
  EXPECT_EQ(result.command, Command::kList);
}

TEST(ParseArgsErrorTest, FlagOfAnotherCommandIsUnknownHere) {
  ParseResult result = Parse({"create", "--kernel", "/k"});
  EXPECT_FALSE(result.invocation.has_value());
  EXPECT_EQ(result.error, "create: unknown flag --kernel");
  EXPECT_EQ(result.command, Command::kCreate);
}

TEST(ParseArgsErrorTest, MissingRequiredFlag) {
  ParseResult result = Parse({"boot", "vm-1"});
  EXPECT_EQ(result.error, "boot: missing required flag --kernel");
  EXPECT_EQ(result.command, Command::kBoot);
  EXPECT_EQ(Parse({"run"}).error, "run: missing required flag --kernel");
}

TEST(ParseArgsErrorTest, MissingFlagValue) {
  ParseResult result = Parse({"run", "--kernel"});
  EXPECT_EQ(result.error, "run: flag --kernel needs a value (--kernel PATH)");
  EXPECT_EQ(result.command, Command::kRun);
}

TEST(ParseArgsErrorTest, MissingAndExtraArguments) {
  EXPECT_EQ(Parse({"get"}).error, "get: missing argument ID");
  EXPECT_EQ(Parse({"start", "a", "b"}).error, "start: unexpected argument 'b'");
  EXPECT_EQ(Parse({"list", "x"}).error, "list: unexpected argument 'x'");
}

TEST(ParseArgsErrorTest, BadNumbers) {
  EXPECT_EQ(Parse({"create", "--vcpus", "two"}).error,
            "create: --vcpus: 'two' is not a non-negative integer");
  EXPECT_EQ(Parse({"create", "--memory-mib=-5"}).error,
            "create: --memory-mib: '-5' is not a non-negative integer");
  EXPECT_EQ(Parse({"create", "--vcpus", "99999999999"}).error,
            "create: --vcpus: '99999999999' is not a non-negative integer");
  EXPECT_EQ(Parse({"list", "--timeout_s", "1.5"}).error,
            "list: --timeout_s: '1.5' is not a non-negative integer");
  EXPECT_EQ(Parse({"list", "--json=maybe"}).error, "list: --json: 'maybe' is not true or false");
}

TEST(ParseArgsErrorTest, EmptyKernelPath) {
  EXPECT_EQ(Parse({"boot", "vm", "--kernel="}).error, "boot: --kernel: empty path");
}

TEST(ParseArgsErrorTest, UnknownDriveOptionIsNamed) {
  ParseResult result = Parse({"create", "--drive", "/a.img,ro", "--drive", "b.img,rw2"});
  EXPECT_FALSE(result.invocation.has_value());
  EXPECT_EQ(result.error,
            "create: --drive: unknown option 'rw2' in 'b.img,rw2' (PATH[,ro][,root])");
  EXPECT_EQ(result.command, Command::kCreate);
  // Options are exact words.
  EXPECT_EQ(Parse({"run", "--kernel=/k", "--drive=/a.img,RO"}).error,
            "run: --drive: unknown option 'RO' in '/a.img,RO' (PATH[,ro][,root])");
  EXPECT_EQ(Parse({"create", "--drive", "/a.img,"}).error,
            "create: --drive: empty option in '/a.img,' (PATH[,ro][,root])");
  EXPECT_EQ(Parse({"create", "--drive", "/a.img,,ro"}).error,
            "create: --drive: empty option in '/a.img,,ro' (PATH[,ro][,root])");
}

TEST(ParseArgsErrorTest, EmptyDrivePath) {
  EXPECT_EQ(Parse({"create", "--drive="}).error, "create: --drive: empty path");
  EXPECT_EQ(Parse({"create", "--drive", ",ro"}).error, "create: --drive: empty path");
  EXPECT_EQ(Parse({"run", "--kernel", "/k", "--drive", "/a.img", "--drive", ""}).error,
            "run: --drive: empty path");
  EXPECT_EQ(Parse({"create", "--drive"}).error,
            "create: flag --drive needs a value (--drive PATH[,ro][,root])");
}

TEST(ParseArgsErrorTest, DriveAndEntropyAreOnlyForCreateAndRun) {
  EXPECT_EQ(Parse({"boot", "vm", "--kernel", "/k", "--drive", "/a.img"}).error,
            "boot: unknown flag --drive");
  EXPECT_EQ(Parse({"start", "vm", "--entropy"}).error, "start: unknown flag --entropy");
}

TEST(ParseArgsErrorTest, MissingAndUnknownCommand) {
  ParseResult none = Parse({"--json"});
  EXPECT_EQ(none.error, "missing command");
  EXPECT_FALSE(none.command.has_value());
  ParseResult unknown = Parse({"explode", "vm-1"});
  EXPECT_EQ(unknown.error, "unknown command 'explode'");
  EXPECT_FALSE(unknown.command.has_value());
}

TEST(ParseArgsErrorTest, UnknownFlagBeforeCommandStillNamesTheCommand) {
  ParseResult result = Parse({"--verbose", "get", "vm-1"});
  EXPECT_EQ(result.error, "get: unknown flag --verbose");
  EXPECT_EQ(result.command, Command::kGet);
}

TEST(ParseArgsHelpTest, HelpForms) {
  Invocation general = ParseOk({"--help"});
  EXPECT_EQ(general.command, Command::kHelp);
  EXPECT_FALSE(general.help_topic.has_value());
  EXPECT_EQ(ParseOk({"boot", "-h"}).help_topic, Command::kBoot);
  EXPECT_EQ(ParseOk({"help", "run"}).help_topic, Command::kRun);
  EXPECT_EQ(Parse({"help", "nope"}).error, "help: unknown command 'nope'");
}

TEST(UsageTest, CommandUsageListsItsFlags) {
  const std::string usage = CommandUsage(Command::kBoot);
  EXPECT_THAT(usage, HasSubstr("boot ID --kernel PATH [--initrd PATH] [--cmdline TEXT]"));
  EXPECT_THAT(usage, HasSubstr("ConfigureBoot"));
  EXPECT_THAT(usage, HasSubstr("--address ADDR"));
  EXPECT_THAT(CommandUsage(Command::kCreate),
              HasSubstr("create [--id ID] [--vcpus N] [--memory-mib M] "
                        "[--drive PATH[,ro][,root]]... [--net TAP[,MAC]]... [--vsock CID,PATH] [--entropy] [--label KEY=VALUE]...\n"));
}

TEST(UsageTest, RepeatableFlagIsMarkedAndHelpColumnsLineUp) {
  const std::string usage = CommandUsage(Command::kCreate);
  EXPECT_THAT(usage, HasSubstr("\n  --drive PATH[,ro][,root]  a raw disk image under one of "
                               "vmmd's --image_root directories"));
  EXPECT_THAT(usage, HasSubstr("root=/dev/vda (repeatable)\n"));
  EXPECT_THAT(usage, HasSubstr("\n  --entropy                 add a virtio-rng device"));
  // The global flags' help starts in the same column as the command's own.
  EXPECT_THAT(usage, HasSubstr("\n  --json                    print responses as JSON"));
  EXPECT_THAT(usage, Not(HasSubstr("--vcpus N (repeatable)")));
  EXPECT_THAT(usage, Not(HasSubstr("(default 1) (repeatable)")));
}

TEST(UsageTest, ShortUsageIsTheSynopsisAndAPointer) {
  EXPECT_EQ(ShortUsage(Command::kRun),
            "usage: vmmctl [--address ADDR] [--json] [--timeout_s N] run --kernel PATH "
            "[--initrd PATH] [--cmdline TEXT] [--protocol NAME] [--acpi on|off] [--vcpus N] [--memory-mib M] "
            "[--drive PATH[,ro][,root]]... [--net TAP[,MAC]]... [--vsock CID,PATH] [--entropy] "
            "[--label KEY=VALUE]... [--id ID] [--keep]\n"
            "('vmmctl help run' describes each flag)\n");
}

TEST(UsageTest, UsageListsTheTlsFlags) {
  for (const std::string& usage : {GeneralUsage(), CommandUsage(Command::kList)}) {
    EXPECT_THAT(usage, HasSubstr("--tls_ca_file FILE"));
    EXPECT_THAT(usage, HasSubstr("--tls_cert_file FILE"));
    EXPECT_THAT(usage, HasSubstr("--tls_key_file FILE"));
    EXPECT_THAT(usage, HasSubstr("--tls_server_name NAME"));
    EXPECT_THAT(usage, HasSubstr("$VMMD_TLS_CA_FILE"));
  }
  EXPECT_THAT(GeneralUsage(),
              HasSubstr("vmmctl --address tcp:vmmd.example:7070 --tls_ca_file ca.pem list"));
}

TEST(UsageTest, GeneralUsageListsEveryCommand) {
  const std::string usage = GeneralUsage();
  for (const CommandSpec& spec : AllCommands()) {
    EXPECT_THAT(usage, HasSubstr(std::string("  ") + spec.name + " ")) << spec.name;
  }
}

}  // namespace
}  // namespace vmmctl

namespace vmmctl {
namespace {

TEST(ParseArgsTest, SnapshotNeedsADirectory) {
  Invocation invocation = ParseOk({"snapshot", "web-1", "--dir", "snaps/web"});
  EXPECT_EQ(invocation.command, Command::kSnapshot);
  EXPECT_EQ(invocation.vm_id, "web-1");
  EXPECT_EQ(invocation.snapshot_dir, "/home/me/work/snaps/web");
  EXPECT_THAT(Parse({"snapshot", "web-1"}).error, HasSubstr("missing required flag --dir"));
}

TEST(ParseArgsTest, RestoreTakesOverrides) {
  Invocation invocation =
      ParseOk({"restore", "--dir=/snap/web", "--id", "c1", "--resume", "--copy-memory",
               "--drive-path", "root=disks/c1.ext4", "--tap=eth0=tap7", "--vsock-path", "c1.sock",
               "--vsock-cid", "9"});
  EXPECT_EQ(invocation.command, Command::kRestore);
  EXPECT_EQ(invocation.snapshot_dir, "/snap/web");
  EXPECT_EQ(invocation.vm_id, "c1");
  EXPECT_TRUE(invocation.resume);
  EXPECT_TRUE(invocation.copy_memory);
  ASSERT_EQ(invocation.drive_paths.size(), 1u);
  EXPECT_EQ(invocation.drive_paths[0].first, "root");
  EXPECT_EQ(invocation.drive_paths[0].second, "/home/me/work/disks/c1.ext4");
  ASSERT_EQ(invocation.taps.size(), 1u);
  EXPECT_EQ(invocation.taps[0].first, "eth0");
  EXPECT_EQ(invocation.taps[0].second, "tap7");
  EXPECT_EQ(invocation.vsock_path_override, "/home/me/work/c1.sock");
  EXPECT_EQ(invocation.vsock_cid_override, 9u);
  EXPECT_THAT(Parse({"restore", "--dir=/s", "--tap", "eth0"}).error, HasSubstr("ID=TAP"));
  EXPECT_THAT(Parse({"restore", "--dir=/s", "--drive-path", "=x"}).error, HasSubstr("ID=PATH"));
}

}  // namespace
TEST(ParseArgsTest, LabelsAndSelectors) {
  Invocation run = ParseOk({"run", "--kernel", "/k", "--label", "app=web", "--label=example.com/tier="});
  EXPECT_EQ(run.labels, (std::map<std::string, std::string>{{"app", "web"}, {"example.com/tier", ""}}));
  EXPECT_THAT(Parse({"create", "--label", "app"}).error, HasSubstr("expected KEY=VALUE"));
  EXPECT_THAT(Parse({"create", "--label", "a=1", "--label", "a=2"}).error, HasSubstr("label given twice"));
  EXPECT_EQ(ParseOk({"list", "--selector", "app=web"}).label_selector, "app=web");
  Invocation watch = ParseOk({"watch-all", "--selector=tier!=db"});
  EXPECT_EQ(watch.command, Command::kWatchAll);
  EXPECT_EQ(watch.label_selector, "tier!=db");
  EXPECT_THAT(Parse({"get", "a", "--selector", "x=y"}).error, HasSubstr("selector"));
}

}  // namespace vmmctl
