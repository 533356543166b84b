// Makes a request body that does not parse an INVALID_ARGUMENT, not an INTERNAL error.
//
// gRPC's generated handlers answer a request they cannot deserialize with INTERNAL before
// vmmd's code runs (grpcpp/impl/codegen/proto_utils.h, GenericDeserialize). That is the
// client's mistake, and vmmd never answers a client's mistake with INTERNAL: this server
// interceptor notices the failed parse (the received message is null) and rewrites the
// status it is about to send.
#ifndef VMMD_DAEMON_PARSE_FAILURE_INTERCEPTOR_H_
#define VMMD_DAEMON_PARSE_FAILURE_INTERCEPTOR_H_

#include "grpcpp/support/server_interceptor.h"

namespace vmmd {

class ParseFailureInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_PARSE_FAILURE_INTERCEPTOR_H_
