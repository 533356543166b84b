// ReflectionClient: a gRPC client that knows no .proto files, as grpcurl is. It learns a
// server's services and message types through server reflection (grpc.reflection.v1alpha)
// into its own DescriptorPool, and calls methods by name with JSON requests and responses
// (the proto3 JSON mapping), building the messages with DynamicMessageFactory.
// Not thread-safe: one client per thread.
#ifndef VMMD_TESTS_DAEMON_REFLECTION_CLIENT_H_
#define VMMD_TESTS_DAEMON_REFLECTION_CLIENT_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "grpcpp/channel.h"

namespace vmmd::testing {

class ReflectionClient {
 public:
  // Every RPC, reflection included, gets `deadline` from its start.
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel,
                            absl::Duration deadline = absl::Seconds(60));

  // The fully-qualified names of the services the server exposes, as it lists them.
  // Errors: the RPC's status, or the server's reflection error_response.
  absl::StatusOr<std::vector<std::string>> ListServices();

  // Asks the server for the file defining `symbol` (a service, method, message or enum,
  // fully qualified) and builds it, with the files it imports, into pool(). Files the pool
  // already holds are not fetched again. NOT_FOUND if the server does not know the symbol;
  // INVALID_ARGUMENT if a descriptor it sent does not build.
  absl::StatusOr<const google::protobuf::FileDescriptor*> FileContainingSymbol(
      const std::string& symbol);

  // Adds a file the server does not describe (like grpcurl's -proto/-protoset). Its imports
  // must be in the pool already. INVALID_ARGUMENT if it does not build.
  absl::Status AddFile(const google::protobuf::FileDescriptorProto& file);

  // Calls a unary method, "package.Service/Method", with a JSON request; returns the
  // response as JSON (lowerCamelCase names, 64-bit integers as strings, enums by name,
  // bytes as base64, fields at their default value omitted). Errors: NOT_FOUND for an
  // unknown service or method, INVALID_ARGUMENT for bad JSON or a streaming method, and
  // otherwise the RPC's status with the same code.
  absl::StatusOr<std::string> CallUnary(const std::string& method,
                                        const std::string& request_json);

  // Calls a server-streaming method and reads the stream to its end; returns each message
  // as JSON. Errors as for CallUnary; a stream that ends with an error returns that error.
  absl::StatusOr<std::vector<std::string>> CallServerStreaming(
      const std::string& method, const std::string& request_json);

  // Resolves "package.Service/Method" through reflection (if the pool lacks the service).
  absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(
      const std::string& method);

  const google::protobuf::DescriptorPool& pool() const { return pool_; }

 private:
  // Decoded reflection responses: FileDescriptorProtos by file name, waiting to be built.
  using FileProtos = std::map<std::string, google::protobuf::FileDescriptorProto>;

  // Builds `name` from `fetched` (or, failing that, from the server by file name) after its
  // dependencies, unless the pool has it already. `building` holds the files being built
  // further up, to refuse import cycles.
  absl::StatusOr<const google::protobuf::FileDescriptor*> BuildFile(
      const std::string& name, FileProtos& fetched, std::set<std::string>& building);
  // Sends a file_by_filename or file_containing_symbol request and decodes the answer.
  absl::Status FetchFiles(bool by_symbol, const std::string& key, FileProtos& fetched);
  // Turns JSON into the method's request message, serialized.
  absl::StatusOr<std::string> EncodeRequest(const google::protobuf::MethodDescriptor& method,
                                            const std::string& request_json);
  // Turns a serialized response of `method` into JSON.
  absl::StatusOr<std::string> DecodeResponse(const google::protobuf::MethodDescriptor& method,
                                             const std::string& bytes);

  std::shared_ptr<grpc::Channel> channel_;
  absl::Duration deadline_;
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};
};

}  // namespace vmmd::testing

#endif  // VMMD_TESTS_DAEMON_REFLECTION_CLIENT_H_
