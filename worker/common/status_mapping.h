// The one place where absl::Status and grpc::Status meet.
// Contract:
//  - ToGrpcStatus() is the only absl → gRPC mapping in the tree: every service (public Inference,
//    internal Coordinator and Worker planes) ends its calls through it. Codes map one to one (both
//    follow google.rpc.Code); the message is kept verbatim. An OK status maps to grpc::Status::OK.
//  - FromGrpcStatus() is the inverse, for clients of our own services (the coordinator's worker
//    pool, the CLI, tests): the message is prefixed with `context` when one is given.
// No other file converts codes by hand.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace gptoss {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view context = {});
// A code carried in a proto field (worker.proto's StepResult.error.code); a value that is no
// error code (a rogue peer) is Internal.
absl::StatusCode StatusCodeFromWire(int code);

}  // namespace gptoss
