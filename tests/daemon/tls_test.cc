// TCP with TLS through the real vmmd binary: certificates made with the openssl CLI in a
// temporary directory, vmmd started on a free loopback port. A client that trusts the CA gets
// answers, a plaintext client does not; with a client CA (mutual TLS) only a client with a
// certificate from that CA gets in. TCP beyond loopback without TLS stops vmmd at start with
// a message; with TLS it starts (and is only ever reached through 127.0.0.1 here). No VM is
// created, and vmmd is given no KVM device, so /dev/kvm is not needed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "vmm/v1/vmm.grpc.pb.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;

constexpr char kDaemon[] = "daemon/vmmd";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A port nobody listens on now (the kernel's choice for a socket bound to port 0).
int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool LoopbackPortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// vmmd as a child process with the given flags; stderr goes to a log file.
class Vmmd {
 public:
  Vmmd(const std::string& log_path, std::vector<std::string> flags) : log_path_(log_path) {
    std::vector<std::string> args = {kDaemon, "--kvm_device=/nonexistent/kvm"};
    args.insert(args.end(), flags.begin(), flags.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      ::dup2(log, STDERR_FILENO);
      ::dup2(log, STDOUT_FILENO);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Vmmd() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits (bounded) until vmmd accepts TCP connections on 127.0.0.1:port; false if it exited
  // or did not get there in 10 s.
  bool WaitUntilListening(int port) {
    for (int i = 0; i < 500; ++i) {
      if (Exited(absl::ZeroDuration())) return false;
      if (LoopbackPortAccepts(port)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // True once vmmd has exited (waiting up to `timeout`); its status is then exit_status().
  bool Exited(absl::Duration timeout) {
    if (exit_status_) return true;
    const absl::Time deadline = absl::Now() + timeout;
    do {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = status;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (absl::Now() < deadline);
    return false;
  }
  int exit_status() const { return exit_status_.value_or(-1); }

  // SIGTERM, then the exit status (as from waitpid), or -1 if it did not exit in 30 s.
  int Terminate() {
    if (!exit_status_) ::kill(pid_, SIGTERM);
    return Exited(absl::Seconds(30)) ? *exit_status_ : -1;
  }

  std::string Log() const { return ReadFile(log_path_); }

  // Waits (bounded, 5 s) for `text` in the log: vmmd logs "serving on ..." just after its
  // port starts accepting, so the port alone does not say the line is there yet.
  bool WaitForLog(const std::string& text) const {
    for (int i = 0; i < 250; ++i) {
      if (Log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = "/tmp/vmmd-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // A CA, a server certificate for 127.0.0.1 and localhost, a client certificate from the
    // CA, and a second CA with a client certificate of its own (a stranger).
    const std::string script = absl::StrCat(
        "set -e; cd '", dir_, "'\n",
        "key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n",
        "for ca in ca other_ca; do\n",
        "  openssl req -x509 $key -keyout $ca.key -out $ca.crt -days 2 -subj \"/CN=vmmd test $ca\" \\\n",
        "    -addext keyUsage=critical,keyCertSign,cRLSign\n",
        "done\n",
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext\n",
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n",
        "openssl req $key -keyout server.key -out server.csr -subj /CN=localhost\n",
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \\\n",
        "  -extfile server.ext -out server.crt\n",
        "openssl req $key -keyout client.key -out client.csr -subj '/CN=vmmd test client'\n",
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \\\n",
        "  -extfile client.ext -out client.crt\n",
        "openssl req $key -keyout stranger.key -out stranger.csr -subj '/CN=vmmd test stranger'\n",
        "openssl x509 -req -in stranger.csr -CA other_ca.crt -CAkey other_ca.key -CAcreateserial \\\n",
        "  -days 2 -extfile client.ext -out stranger.crt\n");
    const std::string command =
        absl::StrCat("bash '", dir_, "/make-certs.sh' >'", dir_, "/openssl.log' 2>&1");
    std::ofstream(dir_ + "/make-certs.sh") << script;
    ASSERT_EQ(::system(command.c_str()), 0) << "openssl failed:\n" << ReadFile(dir_ + "/openssl.log");
    port_ = FreeLoopbackPort();
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (HasFailure() && vmmd_) std::cerr << "vmmd log:\n" << vmmd_->Log();
    vmmd_.reset();
    if (!dir_.empty()) {
      [[maybe_unused]] int ignored = ::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
    }
  }

  std::string File(const std::string& name) const { return dir_ + "/" + name; }
  std::string Pem(const std::string& name) const { return ReadFile(File(name)); }

  void StartVmmd(const std::vector<std::string>& flags) {
    vmmd_ = std::make_unique<Vmmd>(File("vmmd.log"), flags);
  }
  std::vector<std::string> TlsFlags() const {
    return {absl::StrCat("--tls_cert_file=", File("server.crt")),
            absl::StrCat("--tls_key_file=", File("server.key"))};
  }

  // ListVms through a channel to 127.0.0.1:port_ with `credentials`; bounded.
  grpc::Status ListVms(const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
    auto stub = vmm::v1::VmmService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    vmm::v1::ListVmsResponse response;
    return stub->ListVms(&context, vmm::v1::ListVmsRequest(), &response);
  }
  std::shared_ptr<grpc::ChannelCredentials> TlsClient(const std::string& ca,
                                                       const std::string& cert = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem(ca);
    if (!cert.empty()) {
      options.pem_cert_chain = Pem(cert + ".crt");
      options.pem_private_key = Pem(cert + ".key");
    }
    return grpc::SslCredentials(options);
  }

  std::string dir_;
  int port_ = -1;
  std::unique_ptr<Vmmd> vmmd_;
};

TEST_F(TlsTest, LoopbackWithTlsServesTlsClientsOnly) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back(absl::StrCat("--listen=tcp:127.0.0.1:", port_));
  StartVmmd(flags);
  ASSERT_TRUE(vmmd_->WaitUntilListening(port_));
  // The "serving" line may land in the log a moment after the port accepts connections.
  EXPECT_TRUE(vmmd_->WaitForLog("(TLS)")) << vmmd_->Log();

  grpc::Status status = ListVms(TlsClient("ca.crt"));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_FALSE(ListVms(grpc::InsecureChannelCredentials()).ok()) << "plaintext client";
  EXPECT_FALSE(ListVms(TlsClient("other_ca.crt")).ok()) << "a client that does not trust the CA";
  // Without a client CA, a client certificate is neither asked for nor needed.
  EXPECT_TRUE(ListVms(TlsClient("ca.crt", "client")).ok());
  EXPECT_EQ(vmmd_->Terminate(), 0);
}

TEST_F(TlsTest, ClientCaRequiresAClientCertificateFromIt) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back(absl::StrCat("--tls_client_ca_file=", File("ca.crt")));
  flags.push_back(absl::StrCat("--listen=tcp:127.0.0.1:", port_));
  StartVmmd(flags);
  ASSERT_TRUE(vmmd_->WaitUntilListening(port_));
  EXPECT_TRUE(vmmd_->WaitForLog("(TLS, client certificates required)")) << vmmd_->Log();

  grpc::Status status = ListVms(TlsClient("ca.crt", "client"));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_FALSE(ListVms(TlsClient("ca.crt")).ok()) << "a client without a certificate";
  EXPECT_FALSE(ListVms(TlsClient("ca.crt", "stranger")).ok()) << "a certificate from another CA";
  EXPECT_FALSE(ListVms(grpc::InsecureChannelCredentials()).ok()) << "plaintext client";
  EXPECT_EQ(vmmd_->Terminate(), 0);
}

TEST_F(TlsTest, BeyondLoopbackWithoutTlsIsRefusedAtStart) {
  StartVmmd({absl::StrCat("--listen=tcp:0.0.0.0:", port_)});
  ASSERT_TRUE(vmmd_->Exited(absl::Seconds(30))) << "vmmd kept running";
  EXPECT_TRUE(WIFEXITED(vmmd_->exit_status()));
  EXPECT_NE(WEXITSTATUS(vmmd_->exit_status()), 0);
  EXPECT_THAT(vmmd_->Log(), HasSubstr("TCP beyond loopback needs TLS"));
  EXPECT_THAT(vmmd_->Log(), HasSubstr("--tls_cert_file"));
  EXPECT_FALSE(LoopbackPortAccepts(port_));
}

TEST_F(TlsTest, BeyondLoopbackWithTlsStarts) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back(absl::StrCat("--tls_client_ca_file=", File("ca.crt")));
  flags.push_back(absl::StrCat("--listen=tcp:0.0.0.0:", port_));
  StartVmmd(flags);
  // Only ever reached through loopback here.
  ASSERT_TRUE(vmmd_->WaitUntilListening(port_));
  grpc::Status status = ListVms(TlsClient("ca.crt", "client"));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_FALSE(ListVms(grpc::InsecureChannelCredentials()).ok());
  EXPECT_EQ(vmmd_->Terminate(), 0);
}

TEST_F(TlsTest, LoopbackWithoutTlsStaysPlaintext) {
  StartVmmd({absl::StrCat("--listen=tcp:127.0.0.1:", port_)});
  ASSERT_TRUE(vmmd_->WaitUntilListening(port_));
  EXPECT_TRUE(ListVms(grpc::InsecureChannelCredentials()).ok());
  EXPECT_EQ(vmmd_->Terminate(), 0);
}

TEST_F(TlsTest, IncompleteOrUnreadableTlsSettingsStopTheDaemonWithAMessage) {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::string listen = absl::StrCat("--listen=tcp:127.0.0.1:", port_);
  const Case cases[] = {
      {{listen, "--tls_cert_file=" + File("server.crt")}, "needs both --tls_cert_file and --tls_key_file"},
      {{listen, "--tls_client_ca_file=" + File("ca.crt")}, "needs both --tls_cert_file and --tls_key_file"},
      {{listen, "--tls_cert_file=" + File("missing.crt"), "--tls_key_file=" + File("server.key")},
       "--tls_cert_file: open(" + File("missing.crt") + "): No such file or directory"},
      {{listen, "--tls_cert_file=" + File("server.ext"), "--tls_key_file=" + File("server.key")},
       "--tls_cert_file: " + File("server.ext") + " holds no PEM data"},
      {{"--listen=unix:" + File("vmmd.sock"), "--tls_cert_file=" + File("server.crt"),
        "--tls_key_file=" + File("server.key")},
       "are for --listen tcp:"},
      {{listen, "--tls_cert_file=" + File("server.crt"), "--tls_key_file=" + File("client.key")},
       "a certificate and its own key"},
      {{"--listen=tcp:127.example.com:" + std::to_string(port_)}, "TCP beyond loopback needs TLS"},
  };
  for (const Case& c : cases) {
    StartVmmd(c.flags);
    ASSERT_TRUE(vmmd_->Exited(absl::Seconds(30))) << c.message;
    EXPECT_TRUE(WIFEXITED(vmmd_->exit_status()) && WEXITSTATUS(vmmd_->exit_status()) != 0)
        << c.message;
    EXPECT_THAT(vmmd_->Log(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace vmmd
