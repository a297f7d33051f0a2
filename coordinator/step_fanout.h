// StepFanout: the step streams of one worker world, the part of the WorkerPool that runs steps.
// One gptoss.v1.Worker.StepStream per rank, opened once every rank is ready, and the plan
// encoder they share (every rank gets the same incremental plan: step_plan_delta.h). Run()
// serializes a plan once, writes the bytes to every rank and joins one result per rank; rank 0's
// carries the sampled ids.
// Not thread-safe: the WorkerPool calls it under its step lock. The contexts it hands out may be
// cancelled from any thread (a step blocked on a dead rank then returns).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "worker/common/internal_plane.h"
#include "worker/common/step_plan.h"
#include "worker/common/step_plan_delta.h"

namespace gptoss {

// A peer-supplied string made safe for one log line (escaped, at most 64 bytes shown).
std::string ForLog(const std::string& s);

class StepFanout {
 public:
  // Opens one stream per worker address, rank by rank. Returns their contexts, for cancelling.
  std::vector<std::shared_ptr<grpc::ClientContext>> Open(const std::vector<std::string>& addresses,
                                                        const InternalPlane& plane);
  int world_size() const { return static_cast<int>(streams_.size()); }

  // The step on every rank. A stream that breaks, or a rank that answers another step, is
  // Unavailable with *lost naming the rank and what happened (the world must be reset); a rank
  // that reports an error in its StepResult fails this step only (Internal-free: the worker's
  // own code, with a message that names no rank).
  absl::StatusOr<StepResult> Run(const StepPlan& plan, std::string* lost);

  // Finishes every stream (at once when their contexts were cancelled) and forgets what the
  // encoder sent: a new world starts from nothing.
  void Close();

 private:
  struct Stream {
    std::shared_ptr<grpc::ClientContext> context;
    std::shared_ptr<grpc::Channel> channel;
    // gptoss.v1.Worker.StepStream, writing serialized StepPlans.
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::StepResult>> rw;
  };
  std::vector<Stream> streams_;
  StepPlanEncoder encoder_;  // one for all streams of a world
};

}  // namespace gptoss
