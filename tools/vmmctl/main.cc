// vmmctl: the command-line client of vmmd. Parses the command line, connects to the
// daemon and runs one command; see `vmmctl help`.
//   exit 0: success (for `run`: the guest stopped, whatever the reason)
//   exit 1: a call failed, or vmmd could not be reached
//   exit 2: bad usage, or a --tls_* file that cannot be read
//   exit 128+N: `run` interrupted by signal N, after deleting its VM
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/support/log.h"
#include "tools/vmmctl/address.h"
#include "tools/vmmctl/args.h"
#include "tools/vmmctl/client_tls.h"
#include "tools/vmmctl/command_table.h"
#include "tools/vmmctl/commands.h"
#include "tools/vmmctl/connect.h"
#include "tools/vmmctl/interruption.h"
#include "tools/vmmctl/signal_watcher.h"
#include "tools/vmmctl/tls_options.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace {

std::string CurrentDirectory() {
  char* cwd = ::getcwd(nullptr, 0);
  if (cwd == nullptr) return "/";  // only relative image paths need it; they will fail clearly
  std::string result = cwd;
  ::free(cwd);
  return result;
}

// The TLS settings and the files they name; nullopt for plaintext. Errors are usage errors:
// they name the flag (or variable) and, for a file, its path.
absl::StatusOr<std::optional<vmmctl::ClientTls>> LoadTls(const vmmctl::Invocation& invocation,
                                                         const vmmctl::Address& address) {
  absl::StatusOr<vmmctl::TlsOptions> options =
      vmmctl::ResolveTlsOptions(invocation.global.tls, std::getenv, address);
  if (!options.ok()) return options.status();
  if (!options->enabled()) return std::nullopt;
  return vmmctl::LoadClientTls(*options);
}

// gRPC logs its own view of a failed handshake to stderr ("E1121 ... ssl_transport_security.cc
// ... Handshake failed"); vmmctl reports the failure itself, with what to check. Setting
// $GRPC_VERBOSITY brings gRPC's lines back.
void QuietGrpcLogging() {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const vmmctl::ParseResult parsed = vmmctl::ParseArgs(args, CurrentDirectory());
  if (!parsed.invocation.has_value()) {
    std::cerr << "vmmctl: " << parsed.error << "\n"
              << (parsed.command.has_value() ? vmmctl::ShortUsage(*parsed.command)
                                             : vmmctl::GeneralUsage());
    return 2;
  }
  const vmmctl::Invocation& invocation = *parsed.invocation;
  QuietGrpcLogging();
  if (invocation.command == vmmctl::Command::kHelp) {
    std::cout << (invocation.help_topic.has_value() ? vmmctl::CommandUsage(*invocation.help_topic)
                                                    : vmmctl::GeneralUsage());
    return 0;
  }

  absl::StatusOr<vmmctl::Address> address =
      vmmctl::ResolveAddress(invocation.global.address, std::getenv(vmmctl::kAddressEnvVar));
  if (!address.ok()) {
    std::cerr << "vmmctl: " << address.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::optional<vmmctl::ClientTls>> tls = LoadTls(invocation, *address);
  if (!tls.ok()) {
    std::cerr << "vmmctl: " << tls.status().message() << "\n";
    return 2;
  }

  // `run` must outlive Ctrl-C long enough to delete its VM: block the signals before gRPC
  // starts any thread, and take them on the watcher's. A closed stdout is noticed on write.
  const bool interruptible = invocation.command == vmmctl::Command::kRun;
  if (interruptible) {
    vmmctl::SignalWatcher::BlockSignals();
    ::signal(SIGPIPE, SIG_IGN);
  }
  vmmctl::Interruption interruption;
  std::optional<vmmctl::SignalWatcher> watcher;
  if (interruptible) watcher.emplace(&interruption);

  const absl::Duration timeout = invocation.global.timeout_s == 0
                                     ? absl::InfiniteDuration()
                                     : absl::Seconds(invocation.global.timeout_s);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      vmmctl::Connect(*address, *tls, timeout);
  if (!channel.ok()) {
    std::cerr << "vmmctl: " << channel.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<vmm::v1::VmmService::Stub> stub = vmm::v1::VmmService::NewStub(*channel);

  vmmctl::CommandContext context;
  context.stub = stub.get();
  context.out = &std::cout;
  context.err = &std::cerr;
  context.json = invocation.global.json;
  context.timeout = timeout;
  if (interruptible) context.interruption = &interruption;
  return vmmctl::ExecuteCommand(invocation, context);
}
