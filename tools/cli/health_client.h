// A client for the standard grpc.health.v1.Health/Check rpc. Debian's gRPC ships the server side
// (grpc::EnableDefaultHealthCheckService) but no generated stubs for health.proto, so this calls
// the method generically and encodes its two one-field messages by hand:
//   HealthCheckRequest  { string service = 1; }          → bytes 0x0A <len> <service>
//   HealthCheckResponse { ServingStatus status = 1; }    ← bytes 0x08 <varint status>
// Used by `gptoss chat --wait-ready-s` and the end-to-end tests.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace gptoss::cli {

enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// One Check call ("" = the whole server). Transport errors are returned as a status.
absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service, absl::Duration timeout);

// Polls Check until SERVING; DeadlineExceeded naming the last answer after `timeout`.
absl::Status WaitForServing(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& service, absl::Duration timeout);

}  // namespace gptoss::cli
