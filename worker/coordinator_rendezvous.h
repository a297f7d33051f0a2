// CoordinatorRendezvous: the RendezvousKv of host ranks in worker processes — the coordinator's
// store (Coordinator.StoreSet/StoreGet rpcs on the internal plane, with the cluster secret),
// every key under the world's store_prefix from RegisterResponse, so that a world re-formed
// after a failure never reads the keys of the one before.
#pragma once

#include <memory>
#include <string>

#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "worker/comm/gloo_communicator.h"
#include "worker/common/internal_plane.h"

namespace gptoss {

class CoordinatorRendezvous final : public RendezvousKv {
 public:
  CoordinatorRendezvous(const InternalPlane& plane, const std::string& coordinator,
                        std::string prefix);

  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key,
                                  std::chrono::milliseconds timeout) override;

 private:
  const InternalPlane& plane_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  const std::string prefix_;
};

}  // namespace gptoss
