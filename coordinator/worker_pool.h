// WorkerPool: the coordinator's side of the internal plane (proto/gptoss/v1/worker.proto).
//  - Serves gptoss.v1.Coordinator: Register blocks each worker until `world_size` workers have
//    registered, then answers all of them with their rank, the parallel layout and the KV-cache
//    geometry; Store* is the key-value store of Gloo's rendezvous.
//  - Brings the world up: polls every rank's GetShardInfo until all are ready, then opens one
//    StepStream per rank. Only then is it ready() (the coordinator's health turns SERVING).
//  - RunStep() (engine thread only) runs the step on every rank through the world's StepFanout
//    (coordinator/step_fanout.h); rank 0's result carries the sampled tokens.
// Contract:
//  - The KV geometry is decided once, by the first complete world (the smallest kv_cache_bytes
//    any rank offered, split by KvCachePool::PlanForBudget) unless fixed by the options; a later
//    world (after a failure) must offer at least as much, else its registrations fail with
//    RESOURCE_EXHAUSTED. kv_spec() is empty until then.
//  - A broken step stream or a rank that disappears during start-up resets the world: ready()
//    turns false, every stream is cancelled (workers stop), and new registrations are accepted.
//    A step that a rank answers with StepResult.error fails that step only.
//  - Register errors: INVALID_ARGUMENT (malformed address, rank_hint >= world size, unknown
//    backend), FAILED_PRECONDITION (model fingerprint or backend differs), ALREADY_EXISTS
//    (rank_hint taken), RESOURCE_EXHAUSTED (world full, or too little KV memory).
//  - Every rpc needs the cluster secret (InternalPlane::Check: UNAUTHENTICATED otherwise), and
//    every call to a worker carries it. Registration accepts only plausible values (printable
//    host:port addresses, kv_cache_bytes <= max_kv_cache_bytes) and only while a world forms (or
//    re-forms after a failure). Errors never reveal the coordinator's fingerprint or secret.
//  - The store takes keys only from the world being brought up or serving, under its
//    store_prefix, and forgets them when that world ends.
//  - Liveness: while a world is up, every rank answers a GetShardInfo heartbeat each
//    heartbeat_interval; a rank silent for worker_timeout (dead, hung, SIGSTOPped), or a step
//    running past step_timeout, resets the world: the step in flight fails with UNAVAILABLE,
//    ready() turns false (health NOT_SERVING), and the workers register again.
//  - Errors that reach public clients say what happened, not where (no addresses or ranks);
//    the details go to the coordinator's log.
//  - Thread-safe; the readiness callback runs without locks held, on whichever thread changed it
//    (also when only the number of registered workers changed).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/engine_loop.h"
#include "coordinator/rendezvous_store.h"
#include "coordinator/step_fanout.h"
#include "grpcpp/grpcpp.h"
#include "proto/gptoss/v1/inference.pb.h"
#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/common/internal_plane.h"
#include "worker/common/step_plan_delta.h"
#include "worker/model/config.h"

namespace gptoss {

struct WorkerPoolOptions {
  int world_size = 1;
  std::string model_fingerprint;  // hex sha256 of config.json; workers must match
  int block_size = 16;
  // Both > 0: a fixed geometry (the workers' kv_cache_bytes must hold it). Otherwise sized from
  // the workers' offers with the scheduler limits below.
  int num_full_blocks = 0;
  int num_sliding_blocks = 0;
  int max_num_seqs = 256;
  int max_batch_tokens = 2048;
  absl::Duration ready_timeout = absl::Minutes(30);      // registration → every rank ready
  absl::Duration unreachable_grace = absl::Seconds(10);  // a rank unreachable this long is gone
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration worker_timeout = absl::Seconds(5);  // silent this long while up: gone
  absl::Duration step_timeout = absl::Seconds(300);  // one step running longer: the world resets
  // A registration offering more KV memory than this is implausible (no device holds it).
  uint64_t max_kv_cache_bytes = uint64_t{4} << 40;
  InternalPlane plane;  // the cluster secret (and optional mTLS) of the internal plane
};

class WorkerPool final : public v1::Coordinator::CallbackService, public StepRunner {
 public:
  WorkerPool(const ModelConfig& config, WorkerPoolOptions options);
  ~WorkerPool() override;

  // gptoss.v1.Coordinator
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* StoreSet(grpc::CallbackServerContext* context,
                                     const v1::StoreSetRequest* request,
                                     v1::StoreSetResponse* response) override;
  grpc::ServerUnaryReactor* StoreGet(grpc::CallbackServerContext* context,
                                     const v1::StoreGetRequest* request,
                                     v1::StoreGetResponse* response) override;
  grpc::ServerUnaryReactor* StoreWait(grpc::CallbackServerContext* context,
                                      const v1::StoreWaitRequest* request,
                                      v1::StoreWaitResponse* response) override;

  // Workers registered for the world forming, or ranks of the world starting or serving.
  int num_registered() const;

  // StepRunner
  bool ready() const override;
  absl::StatusOr<StepResult> RunStep(const StepPlan& plan) override;

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
  class RegisterReactor;
  struct Registrant {
    RegisterReactor* reactor;
    v1::RegisterRequest request;
    v1::RegisterResponse* response;
  };
  struct Rank {
    std::string address;
    std::string device;
  };
  enum class Phase { kRegistering, kStarting, kReady, kStopped };

  absl::Status CheckRegistrationLocked(const v1::RegisterRequest& request) const;
  // Under mu_: every rank registered; assigns ranks, fixes the geometry, answers everyone.
  void CompleteWorldLocked();
  void RemoveRegistrant(RegisterReactor* reactor);
  // Monitor thread: waits for every rank's shard, then opens the step streams.
  void BringUp(uint64_t generation);
  absl::Status OpenStreams(uint64_t generation);  // step_mu_ must be held by the caller
  // Ends the current world (step_mu_ must be held by the caller).
  void ResetWorldLocked(uint64_t generation, const std::string& reason);
  void NotifyReadiness(bool ready);
  // Monitor thread: brings each new world up, then heartbeats it and watches its steps.
  void Monitor();
  // Heartbeats every rank at once; the first rank silent for worker_timeout, or "".
  std::string Heartbeat(const std::vector<Rank>& ranks,
                        std::vector<std::unique_ptr<v1::Worker::Stub>>& stubs,
                        std::vector<std::chrono::steady_clock::time_point>& last_answer);
  // Cancels the live streams (a blocked step returns) and resets the world.
  void Abandon(uint64_t generation, const std::string& reason);

  const ModelConfig config_;
  const WorkerPoolOptions options_;

  std::mutex step_mu_;  // the step streams; lock order: step_mu_ before mu_
  StepFanout fanout_;   // the world's step streams (under step_mu_)

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Phase phase_ = Phase::kRegistering;
  uint64_t generation_ = 1;
  std::vector<Registrant> pending_;
  std::vector<Rank> ranks_;
  std::string backend_;
  std::optional<KvPoolSpec> kv_spec_;
  std::vector<std::shared_ptr<grpc::ClientContext>> live_contexts_;  // for Shutdown's cancel
  uint64_t brought_up_ = 0;  // the last generation the monitor thread brought up
  std::function<void(bool)> readiness_callback_;
  // When the step in flight started (steady clock; 0 when none), for the watchdog.
  std::chrono::steady_clock::time_point step_started_{};
  RendezvousStore store_;
  std::thread monitor_;
};

}  // namespace gptoss
