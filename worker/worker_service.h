// WorkerService: gptoss.v1.Worker on one rank (proto/gptoss/v1/worker.proto) — proto <->
// internal conversion around the StepExecutor, nothing else.
// Contract:
//  - Both rpcs need the cluster secret (UNAUTHENTICATED otherwise, before anything else), so only
//    the coordinator can read the shard or open the step stream.
//  - GetShardInfo never fails otherwise: before SetReady() it reports ready = false with what the worker
//    is doing; after SetFailed() the status_message starts with "failed:" (the coordinator then
//    gives up on this world at once instead of waiting for a timeout).
//  - StepStream: FAILED_PRECONDITION if the worker is not ready or a stream is already active.
//    Each StepPlan is answered by exactly one StepResult, in order, with this rank and the plan's
//    step_id; a plan that does not convert or does not execute is answered with
//    StepResult.error (its absl code and message) and the stream stays usable.
//  - Steps execute on one dedicated thread (never on gRPC's callback threads); the executor is
//    only ever used from that thread.
//  - WaitForStreamEnd() returns once a step stream that was opened has ended (the coordinator
//    closed or cancelled it, or went away) or Shutdown() was called: the worker's life is one
//    stream.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "worker/common/step_plan_delta.h"
#include "worker/engine/step_executor.h"
#include "worker/worker_metrics.h"
#include "worker/common/internal_plane.h"

namespace gptoss {

class WorkerService final : public v1::Worker::CallbackService {
 public:
  explicit WorkerService(InternalPlane plane);
  ~WorkerService() override;

  void SetStatus(const std::string& message);
  // `info` is what GetShardInfo reports (ready is set here). `max_positions` bounds plans.
  // `metrics` (optional) records every executed step and must outlive the service.
  void SetReady(v1::ShardInfo info, std::unique_ptr<StepExecutor> executor, int rank,
                int max_positions, WorkerMetrics* metrics = nullptr);
  void SetFailed(const std::string& message);

  void WaitForStreamEnd();
  void Shutdown();
  // How long the step being executed has run (0 when none is): the communicator watchdog's
  // input. Thread-safe.
  double RunningStepSeconds() const;

  grpc::ServerUnaryReactor* GetShardInfo(grpc::CallbackServerContext* context,
                                         const v1::GetShardInfoRequest* request,
                                         v1::ShardInfo* response) override;
  grpc::ServerBidiReactor<v1::StepPlan, v1::StepResult>* StepStream(
      grpc::CallbackServerContext* context) override;

 private:
  class StepReactor;
  // Runs `job` on the step thread (or, `io`, on the thread that starts the streams' writes, so
  // that a step never waits for a socket); false (and `job` dropped) once Shutdown() was called,
  // when the thread may already be gone.
  bool Post(std::function<void()> job, bool io = false);
  void JobThread(std::deque<std::function<void()>>* jobs);
  // Step thread: the decoded plan of step `step_id` → result (errors, a refused plan's too,
  // become StepResult.error).
  void Execute(uint64_t step_id, const absl::StatusOr<StepPlan>& plan, v1::StepResult* result);
  int max_positions() const;
  void OnStreamEnded();

  const InternalPlane plane_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  v1::ShardInfo info_;
  std::unique_ptr<StepExecutor> executor_;
  WorkerMetrics* metrics_ = nullptr;
  std::atomic<int64_t> step_started_ns_{0};  // steady clock; 0 = no step running
  int rank_ = 0;
  int max_positions_ = 0;
  bool stream_active_ = false;
  bool stream_ended_ = false;
  bool shutdown_ = false;
  std::deque<std::function<void()>> jobs_, io_jobs_;
  std::thread thread_, io_thread_;
};

}  // namespace gptoss
