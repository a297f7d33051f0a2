// WorkerRegistrar: gptoss.v1.Coordinator, the registration half of the internal plane
// (proto/gptoss/v1/worker.proto); WorkerPool runs the world it forms.
//  - Register blocks each worker until `world_size` workers have registered, then answers all
//    of them with their rank, the parallel layout and the KV-cache geometry, and moves the world
//    to kStarting (WorkerWorld). Store* is the key-value store of Gloo's rendezvous.
// Contract:
//  - The KV geometry is decided once, by the first complete world (the smallest kv_cache_bytes
//    any rank offered, split by SizeKvPools) unless fixed by the options; a later world (after
//    a failure) must offer at least as much, else its registrations fail with
//    RESOURCE_EXHAUSTED.
//  - Register errors: INVALID_ARGUMENT (malformed address, rank_hint >= world size, unknown
//    backend), FAILED_PRECONDITION (model fingerprint or backend differs), ALREADY_EXISTS
//    (rank_hint taken), RESOURCE_EXHAUSTED (world full, or too little KV memory).
//  - Every rpc needs the cluster secret (InternalPlane::Check: UNAUTHENTICATED otherwise).
//    Registration accepts only plausible values (printable host:port addresses, kv_cache_bytes
//    <= max_kv_cache_bytes) and only while a world forms (or re-forms after a failure). Errors
//    never reveal the coordinator's fingerprint or secret.
//  - The store takes keys only from the world being brought up or serving, under its
//    store_prefix; WorkerPool erases them when that world ends.
//  - Thread-safe (under the world's lock); `on_change` runs without locks held whenever the
//    number of registered workers changes.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/worker_world.h"
#include "grpcpp/grpcpp.h"
#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "worker/model/config.h"

namespace gptoss {

class WorkerRegistrar final : public v1::Coordinator::CallbackService {
 public:
  // `world` must outlive the registrar.
  WorkerRegistrar(const ModelConfig& config, const WorkerPoolOptions& options, WorkerWorld* world,
                  std::function<void()> on_change);

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

  // Workers waiting for the world to complete (the world's lock held by the caller).
  int NumPendingLocked() const;
  // Answers every waiting registration with `status` (shutdown: the phase is already kStopped,
  // so none can join afterwards).
  void FailPending(const absl::Status& status);

 private:
  class RegisterReactor;
  struct Registrant {
    RegisterReactor* reactor;
    v1::RegisterRequest request;
    v1::RegisterResponse* response;
  };

  absl::Status CheckRegistrationLocked(const v1::RegisterRequest& request) const;
  // Under the world's lock: every rank registered; assigns ranks, fixes the geometry, answers
  // everyone, and hands the world to the lifecycle (kStarting).
  void CompleteWorldLocked();
  void RemoveRegistrant(RegisterReactor* reactor);

  const ModelConfig config_;
  const WorkerPoolOptions options_;
  WorkerWorld* const world_;
  const std::function<void()> on_change_;
  std::vector<Registrant> pending_;  // under world_->mu
};

}  // namespace gptoss
