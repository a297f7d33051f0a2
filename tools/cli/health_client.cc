#include "tools/cli/health_client.h"

#include <chrono>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "worker/common/status_mapping.h"
#include "grpcpp/generic/generic_stub.h"

namespace gptoss::cli {
namespace {

void PutVarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads a varint at `pos`; false if the buffer ends first or it is longer than 10 bytes.
bool GetVarint(const std::string& in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 70 && pos < in.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[pos++]);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// Field 1 (varint) of a HealthCheckResponse; other fields are skipped per wire type.
absl::StatusOr<HealthStatus> ParseResponse(const std::string& bytes) {
  size_t pos = 0;
  uint64_t status = 0;
  while (pos < bytes.size()) {
    uint64_t tag, v;
    if (!GetVarint(bytes, pos, tag)) break;
    const int wire = static_cast<int>(tag & 7);
    if (wire == 0) {
      if (!GetVarint(bytes, pos, v)) break;
      if ((tag >> 3) == 1) status = v;
    } else if (wire == 2) {
      if (!GetVarint(bytes, pos, v) || v > bytes.size() - pos) break;
      pos += v;
    } else {
      break;
    }
  }
  if (pos != bytes.size()) return absl::DataLossError("malformed HealthCheckResponse");
  if (status > 3) return HealthStatus::kUnknown;
  return static_cast<HealthStatus>(status);
}

const char* Name(HealthStatus s) {
  switch (s) {
    case HealthStatus::kServing:
      return "SERVING";
    case HealthStatus::kNotServing:
      return "NOT_SERVING";
    case HealthStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service, absl::Duration timeout) {
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0A);
    PutVarint(service.size(), request);
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  grpc::GenericStub stub(channel);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&done](grpc::Status st) { done.set_value(std::move(st)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return FromGrpcStatus(status, "health check");
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return absl::DataLossError("unreadable health answer");
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return ParseResponse(bytes);
}

absl::Status WaitForServing(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& service, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no answer";
  while (true) {
    absl::StatusOr<HealthStatus> s = CheckHealth(channel, service, absl::Seconds(2));
    if (s.ok() && *s == HealthStatus::kServing) return absl::OkStatus();
    last = s.ok() ? Name(*s) : std::string(s.status().message());
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError(absl::StrCat(
          "server not SERVING after ", absl::FormatDuration(timeout), " (", last, ")"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace gptoss::cli
