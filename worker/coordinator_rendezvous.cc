#include "worker/coordinator_rendezvous.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "worker/common/status_mapping.h"

namespace gptoss {
namespace {

// Store calls are small; a Set that takes this long means the coordinator is gone.
constexpr auto kSetTimeout = std::chrono::seconds(10);
// Slack over a Get's own wait, so the coordinator's DEADLINE_EXCEEDED arrives before ours.
constexpr auto kGetSlack = std::chrono::seconds(5);

}  // namespace

CoordinatorRendezvous::CoordinatorRendezvous(const InternalPlane& plane,
                                             const std::string& coordinator, std::string prefix)
    : plane_(plane),
      stub_(v1::Coordinator::NewStub(plane.Channel(coordinator))),
      prefix_(std::move(prefix)) {}

absl::Status CoordinatorRendezvous::Set(const std::string& key, const std::string& value) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kSetTimeout);
  plane_.Authorize(&ctx);
  v1::StoreSetRequest request;
  request.set_key(prefix_ + key);
  request.set_value(value);
  v1::StoreSetResponse response;
  return FromGrpcStatus(stub_->StoreSet(&ctx, request, &response), "rendezvous StoreSet");
}

absl::StatusOr<std::string> CoordinatorRendezvous::Get(const std::string& key,
                                                       std::chrono::milliseconds timeout) {
  // The coordinator caps a wait (RendezvousLimits::max_timeout); 0 would mean its default.
  const auto wait = std::clamp<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(1),
                                                          std::chrono::minutes(5));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + wait + kGetSlack);
  plane_.Authorize(&ctx);
  v1::StoreGetRequest request;
  request.set_key(prefix_ + key);
  request.set_timeout_ms(static_cast<uint32_t>(wait.count()));
  v1::StoreGetResponse response;
  grpc::Status st = stub_->StoreGet(&ctx, request, &response);
  if (!st.ok()) return FromGrpcStatus(st, "rendezvous StoreGet");
  return std::move(*response.mutable_value());
}

}  // namespace gptoss
