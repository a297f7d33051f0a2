// WorkerPool: the coordinator's side of the internal plane (proto/gptoss/v1/worker.proto): the
// life of the worker world. Registration and the rendezvous store are WorkerRegistrar's
// (service()); the step streams are StepFanout's (coordinator/step_fanout.h); the KV geometry is
// SizeKvPools' (coordinator/kv_sizing.h); the state they share is a WorkerWorld.
//  - Brings the world up: once the registrar has formed it, polls every rank's GetShardInfo
//    until all are ready, then opens one StepStream per rank. Only then is it ready() (the
//    coordinator's health turns SERVING).
//  - Launch() and Collect() (engine thread only) send a step to every rank through the world's
//    StepFanout and join its results, in order; rank 0's result carries the sampled tokens. A
//    step launched on a world that has been reset since is collected as UNAVAILABLE.
// Contract:
//  - kv_spec() is empty until the first complete world fixes the geometry.
//  - A broken step stream or a rank that disappears during start-up resets the world: ready()
//    turns false, every stream is cancelled (workers stop), and new registrations are accepted.
//    A step that a rank answers with StepResult.error fails that step only.
//  - Every call to a worker carries the cluster secret.
//  - Liveness: while a world is up, every rank answers a GetShardInfo heartbeat each
//    heartbeat_interval; a rank silent for worker_timeout (dead, hung, SIGSTOPped), or a step
//    running past step_timeout, resets the world: the step in flight fails with UNAVAILABLE,
//    ready() turns false (health NOT_SERVING), and the workers register again.
//  - Errors that reach public clients say what happened, not where (no addresses or ranks);
//    the details go to the coordinator's log.
//  - Thread-safe; the readiness callback runs without locks held, on whichever thread changed it
//    (also when only the number of registered workers changed).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/engine_loop.h"
#include "coordinator/step_fanout.h"
#include "coordinator/worker_registrar.h"
#include "coordinator/worker_world.h"
#include "grpcpp/grpcpp.h"
#include "proto/gptoss/v1/inference.pb.h"
#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "worker/model/config.h"

namespace gptoss {

class WorkerPool final : public StepRunner {
 public:
  WorkerPool(const ModelConfig& config, WorkerPoolOptions options);
  ~WorkerPool() override;

  // gptoss.v1.Coordinator (registration and rendezvous), for the internal listener.
  grpc::Service* service() { return &registrar_; }

  // Workers registered for the world forming, or ranks of the world starting or serving.
  int num_registered() const;

  // StepRunner
  bool ready() const override;
  absl::Status Launch(const StepPlan& plan) override;
  absl::StatusOr<StepResult> Collect() override;

  // Called with the new readiness whenever it changes.
  void SetReadinessCallback(std::function<void(bool)> callback);
  std::optional<KvPoolSpec> kv_spec() const;
  // Blocks until the KV geometry is known (true) or Shutdown()/timeout (false).
  bool WaitForKvSpec(absl::Duration timeout) const;
  // World size, layout and the workers by rank (for GetModelInfo).
  void FillParallelInfo(v1::ParallelInfo* info) const;
  std::string backend() const;  // "cpu"/"cuda" of the current or last world; "" before any
  const InternalPlane& plane() const { return options_.plane; }

  // Fails pending registrations, stops the bring-up and closes every step stream (workers
  // stop). Idempotent.
  void Shutdown();
  // A local worker process exited (gptoss serve saw it): end the current world now instead of
  // waiting for the heartbeat to time out.
  void WorkerExited(const std::string& what);

 private:
  // Monitor thread: waits for every rank's shard, then opens the step streams.
  void BringUp(uint64_t generation);
  absl::Status OpenStreams(uint64_t generation);  // step_mu_ must be held by the caller
  // Ends the current world (step_mu_ must be held by the caller).
  void ResetWorldLocked(uint64_t generation, const std::string& reason);
  void NotifyReadiness(bool ready);
  // Monitor thread: brings each new world up, then heartbeats it and watches its steps.
  void Monitor();
  // Heartbeats every rank at once; the first rank silent for worker_timeout, or "".
  std::string Heartbeat(const std::vector<WorkerWorld::Rank>& ranks,
                        std::vector<std::unique_ptr<v1::Worker::Stub>>& stubs,
                        std::vector<std::chrono::steady_clock::time_point>& last_answer);
  // Cancels the live streams (a blocked step returns) and resets the world.
  void Abandon(uint64_t generation, const std::string& reason);

  const WorkerPoolOptions options_;
  WorkerWorld world_;
  WorkerRegistrar registrar_;

  std::mutex step_mu_;  // the step streams; lock order: step_mu_ before world_.mu
  StepFanout fanout_;   // the world's step streams (under step_mu_)

  // Under world_.mu:
  std::vector<std::shared_ptr<grpc::ClientContext>> live_contexts_;  // for Shutdown's cancel
  uint64_t brought_up_ = 0;  // the last generation the monitor thread brought up
  std::function<void(bool)> readiness_callback_;
  // When the oldest step in flight started (steady clock; 0 when none), for the watchdog.
  std::chrono::steady_clock::time_point step_started_{};
  // Under step_mu_: the world generation of each launched step not collected yet.
  std::deque<uint64_t> launched_;
  std::thread monitor_;
};

}  // namespace gptoss
