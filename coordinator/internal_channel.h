// Channels of the internal plane (coordinator ⇄ workers) and of loopback tests: plaintext and
// never through an HTTP proxy (gRPC honours $http_proxy, which must not capture cluster-internal
// or loopback traffic).
#pragma once

#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"

namespace gptoss {

inline std::shared_ptr<grpc::Channel> CreateInternalChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace gptoss
