// Server reflection on the real vmmd binary (tag: requires-kvm): a client with no .proto for
// vmm.v1 (this test does not link //proto:vmm_cc_proto) lists the daemon's services,
// learns VmmService's methods and types, boots the hello guest with JSON requests only, as
// grpcurl would, and asks the health service whether the daemon is serving (with a local
// health.proto: the daemon's reflection cannot describe gRPC's built-in health service).
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "health.pb.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_util.h"
#include "reflection.pb.h"
#include "tests/daemon/daemon_process.h"
#include "tests/daemon/reflection_client.h"

namespace vmmd {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::google::protobuf::Struct;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::vmmd::testing::DaemonProcess;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::ReflectionClient;
using ::vmmd::testing::StatusIs;

constexpr char kDaemon[] = "daemon/vmmd";
constexpr char kHelloGuest[] = "tests/guest/hello_guest.elf";
constexpr char kVmmService[] = "vmm.v1.VmmService";

// A response as a JSON object, through protobuf's own JSON parser (google.protobuf.Struct
// holds any JSON object), so that the test reads fields instead of matching text.
Struct ParseJson(const std::string& json) {
  Struct object;
  google::protobuf::util::Status status = google::protobuf::util::JsonStringToMessage(json, &object);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return object;
}

// A string field of a JSON object, "" when absent (proto3 JSON omits default values).
std::string StringField(const Struct& object, const std::string& name) {
  auto field = object.fields().find(name);
  return field == object.fields().end() ? "" : field->second.string_value();
}

class ReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::vmmd::testing::KvmUsable());
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(kDaemon, {kHelloGuest});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    client_ = std::make_unique<ReflectionClient>(daemon_->Connect());
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "vmmd log:\n" << daemon_->Log();
  }

  // Calls a unary VmmService method; returns the response as a JSON object.
  Struct Call(const std::string& method, const std::string& request_json) {
    absl::StatusOr<std::string> response =
        client_->CallUnary(absl::StrCat(kVmmService, "/", method), request_json);
    EXPECT_THAT(response, IsOk()) << method << " " << request_json;
    return response.ok() ? ParseJson(*response) : Struct();
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<ReflectionClient> client_;
};

TEST_F(ReflectionTest, ListsExactlyTheDaemonsServices) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> services, client_->ListServices());
  EXPECT_THAT(services, UnorderedElementsAre("vmm.v1.VmmService", "grpc.health.v1.Health",
                                             "grpc.reflection.v1alpha.ServerReflection"));
}

TEST_F(ReflectionTest, DescribesVmmServiceAsTheProtoDeclaresIt) {
  ASSERT_OK_AND_ASSIGN(const google::protobuf::FileDescriptor* file,
                       client_->FileContainingSymbol(kVmmService));
  EXPECT_EQ(file->package(), "vmm.v1");
  const ServiceDescriptor* service = client_->pool().FindServiceByName(kVmmService);
  ASSERT_NE(service, nullptr);

  struct Expected {
    std::string name;
    std::string input;
    std::string output;
    bool server_streaming;
  };
  const std::vector<Expected> expected = {
      {"CreateVm", "vmm.v1.CreateVmRequest", "vmm.v1.Vm", false},
      {"RunVm", "vmm.v1.RunVmRequest", "vmm.v1.Vm", false},
      {"ConfigureBoot", "vmm.v1.ConfigureBootRequest", "vmm.v1.BootInfo", false},
      {"StartVcpus", "vmm.v1.StartVcpusRequest", "vmm.v1.Vm", false},
      {"GetVm", "vmm.v1.GetVmRequest", "vmm.v1.Vm", false},
      {"ListVms", "vmm.v1.ListVmsRequest", "vmm.v1.ListVmsResponse", false},
      {"PauseVm", "vmm.v1.PauseVmRequest", "vmm.v1.Vm", false},
      {"ResumeVm", "vmm.v1.ResumeVmRequest", "vmm.v1.Vm", false},
      {"StopVm", "vmm.v1.StopVmRequest", "vmm.v1.Vm", false},
      {"DeleteVm", "vmm.v1.DeleteVmRequest", "vmm.v1.DeleteVmResponse", false},
      {"StreamConsole", "vmm.v1.StreamConsoleRequest", "vmm.v1.ConsoleChunk", true},
      {"WatchVm", "vmm.v1.WatchVmRequest", "vmm.v1.VmEvent", true},
      {"WatchVms", "vmm.v1.WatchVmsRequest", "vmm.v1.VmEvent", true},
      {"GetHostInfo", "vmm.v1.GetHostInfoRequest", "vmm.v1.HostInfo", false},
      {"SnapshotVm", "vmm.v1.SnapshotVmRequest", "vmm.v1.SnapshotInfo", false},
      {"RestoreVm", "vmm.v1.RestoreVmRequest", "vmm.v1.Vm", false},
  };
  ASSERT_EQ(service->method_count(), static_cast<int>(expected.size()));
  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    SCOPED_TRACE(method->full_name());
    EXPECT_EQ(method->name(), expected[i].name);
    EXPECT_EQ(method->input_type()->full_name(), expected[i].input);
    EXPECT_EQ(method->output_type()->full_name(), expected[i].output);
    EXPECT_EQ(method->server_streaming(), expected[i].server_streaming);
    EXPECT_FALSE(method->client_streaming());
  }

  const EnumDescriptor* state = client_->pool().FindEnumTypeByName("vmm.v1.VmState");
  ASSERT_NE(state, nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < state->value_count(); ++i) {
    EXPECT_EQ(state->value(i)->number(), i) << state->value(i)->name();
    names.push_back(state->value(i)->name());
  }
  EXPECT_THAT(names, ElementsAre("VM_STATE_UNSPECIFIED", "VM_STATE_CREATED", "VM_STATE_CONFIGURED",
                                 "VM_STATE_RUNNING", "VM_STATE_PAUSED", "VM_STATE_STOPPED"));
}

// gRPC 1.51 answers file_containing_symbol with the file and everything it imports, in one
// response. google/protobuf/api.proto (in the generated pool of every protobuf binary) imports
// type.proto and source_context.proto, and type.proto imports any.proto: the client must
// build the imports first.
TEST_F(ReflectionTest, BuildsDescribedFilesAfterTheirImports) {
  ASSERT_OK_AND_ASSIGN(const google::protobuf::FileDescriptor* file,
                       client_->FileContainingSymbol("google.protobuf.Api"));
  EXPECT_EQ(file->name(), "google/protobuf/api.proto");
  for (const char* name : {"google/protobuf/type.proto", "google/protobuf/source_context.proto",
                           "google/protobuf/any.proto"}) {
    EXPECT_NE(client_->pool().FindFileByName(name), nullptr) << name;
  }
  const Descriptor* method = client_->pool().FindMessageTypeByName("google.protobuf.Method");
  ASSERT_NE(method, nullptr);
  ASSERT_NE(method->FindFieldByName("options"), nullptr);
  EXPECT_EQ(method->FindFieldByName("options")->message_type()->full_name(),
            "google.protobuf.Option");
}

TEST_F(ReflectionTest, BootsTheHelloGuestWithJsonOnly) {
  Struct vm = Call("CreateVm", R"({"vm_id":"reflected","vcpu_count":2,"memory_mib":64})");
  EXPECT_EQ(StringField(vm, "state"), "VM_STATE_CREATED");

  // The image root is a mkdtemp directory: nothing in its path needs JSON escaping.
  Struct boot_info = Call("ConfigureBoot",
                          absl::StrCat(R"({"vm_id":"reflected","kernel_path":")",
                                       daemon_->ImagePath("hello_guest.elf"),
                                       R"(","cmdline":"console=ttyS0"})"));
  EXPECT_EQ(StringField(boot_info, "entryPoint"), "1048576") << "uint64 0x100000, a JSON string";
  ASSERT_EQ(boot_info.fields().count("e820"), 1u);
  EXPECT_EQ(boot_info.fields().at("e820").list_value().values_size(), 4);
  EXPECT_EQ(StringField(boot_info, "acpiRsdpAddress"), "917504") << "0xe0000";

  vm = Call("StartVcpus", R"({"vm_id":"reflected"})");
  EXPECT_EQ(StringField(vm, "vmId"), "reflected");

  ASSERT_OK_AND_ASSIGN(std::vector<std::string> chunks,
                       client_->CallServerStreaming(absl::StrCat(kVmmService, "/StreamConsole"),
                                                    R"({"vm_id":"reflected","follow":true})"));
  std::string console;
  for (const std::string& json : chunks) {
    const Struct chunk = ParseJson(json);
    const std::string offset = StringField(chunk, "offset");  // uint64: a string, "" for 0
    EXPECT_EQ(offset.empty() ? "0" : offset, absl::StrCat(console.size())) << "no bytes dropped";
    std::string data;
    ASSERT_TRUE(absl::Base64Unescape(StringField(chunk, "data"), &data)) << json;
    console += data;
  }
  const std::vector<std::string> lines = absl::StrSplit(console, "\r\n", absl::SkipEmpty());
  ASSERT_GE(lines.size(), 3u) << console;
  EXPECT_EQ(lines[0], "vmmd hello guest");
  EXPECT_EQ(lines[1], "vcpus: 2");
  EXPECT_EQ(lines[2], "memory: 64 MiB");

  vm = Call("GetVm", R"({"vm_id":"reflected"})");
  EXPECT_EQ(StringField(vm, "state"), "VM_STATE_STOPPED");
  EXPECT_EQ(StringField(vm, "exitReason"), "guest reset");

  Struct deleted = Call("DeleteVm", R"({"vm_id":"reflected"})");
  EXPECT_EQ(StringField(deleted, "vmId"), "reflected");
  EXPECT_THAT(client_->CallUnary(absl::StrCat(kVmmService, "/GetVm"), R"({"vm_id":"reflected"})"),
              StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(ReflectionTest, HealthCheckSaysServing) {
  // gRPC 1.51's default health service is built on upb, not protobuf: reflection lists it but
  // cannot describe it. Then the client is given the file, as grpcurl would be with -proto.
  absl::StatusOr<const google::protobuf::FileDescriptor*> described =
      client_->FileContainingSymbol("grpc.health.v1.Health");
  if (!described.ok()) {
    ASSERT_THAT(described, StatusIs(absl::StatusCode::kNotFound, _));
    FileDescriptorProto health;
    grpc::health::v1::HealthCheckRequest::descriptor()->file()->CopyTo(&health);
    ASSERT_THAT(client_->AddFile(health), IsOk());
  }
  ASSERT_OK_AND_ASSIGN(std::string response,
                       client_->CallUnary("grpc.health.v1.Health/Check", "{}"));
  EXPECT_EQ(StringField(ParseJson(response), "status"), "SERVING");
}

// third_party/grpc_reflection/reflection.proto restates the API by hand: the server's own
// description of it must agree, field by field.
TEST_F(ReflectionTest, RestatedReflectionProtoMatchesTheServers) {
  ASSERT_THAT(client_->FileContainingSymbol("grpc.reflection.v1alpha.ServerReflection"), IsOk());
  const google::protobuf::FileDescriptor* ours =
      grpc::reflection::v1alpha::ServerReflectionRequest::descriptor()->file();
  for (int i = 0; i < ours->message_type_count(); ++i) {
    const Descriptor* message = ours->message_type(i);
    SCOPED_TRACE(message->full_name());
    const Descriptor* theirs = client_->pool().FindMessageTypeByName(message->full_name());
    ASSERT_NE(theirs, nullptr);
    EXPECT_EQ(theirs->field_count(), message->field_count());
    for (int j = 0; j < message->field_count(); ++j) {
      const FieldDescriptor* field = message->field(j);
      const FieldDescriptor* their_field = theirs->FindFieldByName(field->name());
      ASSERT_NE(their_field, nullptr) << field->name();
      EXPECT_EQ(their_field->number(), field->number()) << field->name();
      EXPECT_EQ(their_field->type(), field->type()) << field->name();
      EXPECT_EQ(their_field->label(), field->label()) << field->name();
      EXPECT_EQ(their_field->containing_oneof() == nullptr, field->containing_oneof() == nullptr)
          << field->name();
    }
  }
}

}  // namespace
}  // namespace vmmd
