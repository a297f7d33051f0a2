// StepFanout: the step streams of one worker world, the part of the WorkerPool that runs steps.
// One gptoss.v1.Worker.StepStream per rank, opened once every rank is ready, and the plan
// encoder they share (every rank gets the same incremental plan: step_plan_delta.h). Send()
// serializes a plan once and writes the bytes to every rank; Receive() joins one result per rank
// for the oldest step sent (several may be in flight: each rank answers in order); rank 0's
// carries the sampled ids, and every rank's digest of them must agree.
// Not thread-safe: the WorkerPool calls it under its step lock. The contexts it hands out may be
// cancelled from any thread (a step blocked on a dead rank then returns).
#pragma once

#include <deque>
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

  // Sends the step to every rank. A stream that breaks is Unavailable with *lost naming the
  // rank and what happened (the world must be reset).
  absl::Status Send(const StepPlan& plan, std::string* lost);
  // The result of the oldest step sent and not received. A stream that breaks, or a rank that
  // answers another step, is Unavailable with *lost set as above; nothing in flight (the world
  // was reset since) is Unavailable with *lost empty. A rank that reports an error in its
  // StepResult fails this step only (the worker's own code, with a message that names no rank);
  // ranks that sampled different tokens fail it as Internal.
  absl::StatusOr<StepResult> Receive(std::string* lost);
  // Steps sent and not received.
  size_t in_flight() const { return in_flight_.size(); }

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
  // *lost = `what` of `rank`'s stream (finished here); the Unavailable status to return.
  absl::Status Broken(int rank, const char* what, std::string* lost);

  std::vector<Stream> streams_;
  StepPlanEncoder encoder_;  // one for all streams of a world
  std::deque<uint64_t> in_flight_;  // step ids sent and not received, oldest first
  std::vector<v1::StepResult> results_;  // Receive's, one per rank (reused)
};

}  // namespace gptoss
