#include "tests/daemon/reflection_client.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "reflection.grpc.pb.h"

namespace vmmd::testing {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::Message;
using ::google::protobuf::MethodDescriptor;
using ::grpc::reflection::v1alpha::ServerReflection;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;

// grpc::StatusCode and absl::StatusCode share their values (both are the canonical codes).
absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

// DescriptorPool reports why a file does not build through this interface.
class ErrorList : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const Message* /*descriptor*/, ErrorLocation /*location*/,
                const std::string& message) override {
    errors_.push_back(absl::StrCat(filename, ": ", element_name, ": ", message));
  }
  std::string ToString() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

// One reflection request on its own stream: write, half-close, read the one answer.
absl::StatusOr<ServerReflectionResponse> AskServer(const std::shared_ptr<grpc::Channel>& channel,
                                                   absl::Duration deadline,
                                                   const ServerReflectionRequest& request) {
  std::unique_ptr<ServerReflection::Stub> stub = ServerReflection::NewStub(channel);
  std::unique_ptr<grpc::ClientContext> context = Context(deadline);
  auto stream = stub->ServerReflectionInfo(context.get());
  stream->Write(request);
  stream->WritesDone();
  ServerReflectionResponse response;
  const bool answered = stream->Read(&response);
  ServerReflectionResponse extra;
  while (stream->Read(&extra)) {
  }
  RETURN_IF_ERROR(ToAbsl(stream->Finish()));
  if (!answered) return absl::InternalError("the reflection stream ended without an answer");
  if (response.has_error_response()) {
    return absl::Status(static_cast<absl::StatusCode>(response.error_response().error_code()),
                        response.error_response().error_message());
  }
  return response;
}

std::string MethodPath(const MethodDescriptor& method) {
  return absl::StrCat("/", method.service()->full_name(), "/", method.name());
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

}  // namespace

ReflectionClient::ReflectionClient(std::shared_ptr<grpc::Channel> channel,
                                   absl::Duration deadline)
    : channel_(std::move(channel)), deadline_(deadline) {}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  ServerReflectionRequest request;
  request.set_list_services("*");
  ASSIGN_OR_RETURN(ServerReflectionResponse response, AskServer(channel_, deadline_, request));
  if (!response.has_list_services_response()) {
    return absl::InternalError("list_services was not answered with a list_services_response");
  }
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

absl::Status ReflectionClient::FetchFiles(bool by_symbol, const std::string& key,
                                          FileProtos& fetched) {
  ServerReflectionRequest request;
  if (by_symbol) {
    request.set_file_containing_symbol(key);
  } else {
    request.set_file_by_filename(key);
  }
  ASSIGN_OR_RETURN(ServerReflectionResponse response, AskServer(channel_, deadline_, request));
  if (!response.has_file_descriptor_response()) {
    return absl::InternalError(absl::StrCat("no file_descriptor_response for ", key));
  }
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("a FileDescriptorProto for ", key,
                                                     " does not parse"));
    }
    std::string name = file.name();
    fetched.emplace(std::move(name), std::move(file));
  }
  return absl::OkStatus();
}

absl::StatusOr<const FileDescriptor*> ReflectionClient::BuildFile(const std::string& name,
                                                                  FileProtos& fetched,
                                                                  std::set<std::string>& building) {
  if (const FileDescriptor* file = pool_.FindFileByName(name)) return file;
  if (!building.insert(name).second) {
    return absl::InvalidArgumentError(absl::StrCat(name, " imports itself"));
  }
  if (fetched.count(name) == 0) RETURN_IF_ERROR(FetchFiles(/*by_symbol=*/false, name, fetched));
  auto it = fetched.find(name);
  if (it == fetched.end()) {
    return absl::NotFoundError(absl::StrCat("the server did not send ", name));
  }
  const FileDescriptorProto proto = it->second;
  for (const std::string& dependency : proto.dependency()) {
    RETURN_IF_ERROR(BuildFile(dependency, fetched, building).status());
  }
  ErrorList errors;
  const FileDescriptor* file = pool_.BuildFileCollectingErrors(proto, &errors);
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(name, " does not build: ", errors.ToString()));
  }
  return file;
}

absl::StatusOr<const FileDescriptor*> ReflectionClient::FileContainingSymbol(
    const std::string& symbol) {
  if (const FileDescriptor* file = pool_.FindFileContainingSymbol(symbol)) return file;
  FileProtos fetched;
  RETURN_IF_ERROR(FetchFiles(/*by_symbol=*/true, symbol, fetched));
  std::vector<std::string> names;
  for (const auto& [name, proto] : fetched) names.push_back(name);
  for (const std::string& name : names) {
    std::set<std::string> building;
    RETURN_IF_ERROR(BuildFile(name, fetched, building).status());
  }
  const FileDescriptor* file = pool_.FindFileContainingSymbol(symbol);
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("the files sent for ", symbol, " do not define it"));
  }
  return file;
}

absl::Status ReflectionClient::AddFile(const FileDescriptorProto& file) {
  ErrorList errors;
  if (pool_.BuildFileCollectingErrors(file, &errors) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.name(), " does not build: ", errors.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<const MethodDescriptor*> ReflectionClient::FindMethod(const std::string& method) {
  const size_t slash = method.rfind('/');
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", method, "\" is not of the form package.Service/Method"));
  }
  const std::string service_name = method.substr(0, slash);
  const std::string method_name = method.substr(slash + 1);
  const google::protobuf::ServiceDescriptor* service = pool_.FindServiceByName(service_name);
  if (service == nullptr) {
    RETURN_IF_ERROR(FileContainingSymbol(service_name).status());
    service = pool_.FindServiceByName(service_name);
    if (service == nullptr) {
      return absl::NotFoundError(absl::StrCat(service_name, " is not a service"));
    }
  }
  const MethodDescriptor* found = service->FindMethodByName(method_name);
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat(service_name, " has no method ", method_name));
  }
  return found;
}

absl::StatusOr<std::string> ReflectionClient::EncodeRequest(const MethodDescriptor& method,
                                                            const std::string& request_json) {
  const Descriptor* type = method.input_type();
  std::unique_ptr<Message> request(factory_.GetPrototype(type)->New());
  google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(request_json, request.get());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request JSON is not a ", type->full_name(), ": ", parsed.ToString()));
  }
  return request->SerializeAsString();
}

absl::StatusOr<std::string> ReflectionClient::DecodeResponse(const MethodDescriptor& method,
                                                             const std::string& bytes) {
  const Descriptor* type = method.output_type();
  std::unique_ptr<Message> response(factory_.GetPrototype(type)->New());
  if (!response->ParseFromString(bytes)) {
    return absl::InternalError(absl::StrCat("the response is not a ", type->full_name()));
  }
  std::string json;
  google::protobuf::util::Status printed =
      google::protobuf::util::MessageToJsonString(*response, &json);
  if (!printed.ok()) return absl::InternalError(printed.ToString());
  return json;
}

absl::StatusOr<std::string> ReflectionClient::CallUnary(const std::string& method,
                                                        const std::string& request_json) {
  ASSIGN_OR_RETURN(const MethodDescriptor* descriptor, FindMethod(method));
  if (descriptor->client_streaming() || descriptor->server_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat(method, " is a streaming method"));
  }
  ASSIGN_OR_RETURN(std::string request, EncodeRequest(*descriptor, request_json));
  // What a generated stub does, over raw bytes instead of a generated message.
  const std::string path = MethodPath(*descriptor);
  std::unique_ptr<grpc::ClientContext> context = Context(deadline_);
  grpc::ByteBuffer response;
  RETURN_IF_ERROR(ToAbsl(grpc::internal::BlockingUnaryCall(
      channel_.get(), grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
      context.get(), ToByteBuffer(request), &response)));
  return DecodeResponse(*descriptor, FromByteBuffer(response));
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::CallServerStreaming(
    const std::string& method, const std::string& request_json) {
  ASSIGN_OR_RETURN(const MethodDescriptor* descriptor, FindMethod(method));
  if (descriptor->client_streaming() || !descriptor->server_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat(method, " is not server-streaming"));
  }
  ASSIGN_OR_RETURN(std::string request, EncodeRequest(*descriptor, request_json));
  const std::string path = MethodPath(*descriptor);
  std::unique_ptr<grpc::ClientContext> context = Context(deadline_);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
          channel_.get(),
          grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING),
          context.get(), ToByteBuffer(request)));
  std::vector<std::string> responses;
  grpc::ByteBuffer buffer;
  absl::Status decoded;
  while (reader->Read(&buffer)) {
    absl::StatusOr<std::string> json = DecodeResponse(*descriptor, FromByteBuffer(buffer));
    if (json.ok()) {
      responses.push_back(*std::move(json));
    } else if (decoded.ok()) {
      decoded = json.status();  // keep reading: Finish() wants the stream drained
    }
  }
  RETURN_IF_ERROR(ToAbsl(reader->Finish()));
  RETURN_IF_ERROR(decoded);
  return responses;
}

}  // namespace vmmd::testing
