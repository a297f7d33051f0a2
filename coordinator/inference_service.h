// InferenceService: gptoss.v1.Inference (proto/gptoss/v1/inference.proto) on gRPC's callback
// API. Generate and Chat are server-streaming reactors (generate_call.h, chat_call.h) fed by the
// engine thread; Tokenize, Detokenize and GetModelInfo answer inline.
// Contract:
//  - Before SetEngine() (workers not ready yet) Generate and Chat validate the request and then
//    fail with UNAVAILABLE; Tokenize, Detokenize and GetModelInfo always work.
//  - Every error leaves through ToGrpcStatus (status_mapping.h).
//  - Thread-safe: SetEngine() may race with calls; each call sees the engine or not.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "coordinator/call_common.h"
#include "coordinator/worker_pool.h"
#include "proto/gptoss/v1/inference.grpc.pb.h"
#include "worker/model/config.h"

namespace gptoss {

class InferenceService final : public v1::Inference::CallbackService {
 public:
  // `tokenizer`, `renderer` and `pool` must outlive the service.
  InferenceService(const ModelConfig& config, std::string model_name, const Tokenizer* tokenizer,
                   const harmony::HarmonyRenderer* renderer, const WorkerPool* pool);

  // The engine is up: `limits.context_length` is what the KV pools allow.
  void SetEngine(std::shared_ptr<EngineLoop> engine, const ServingLimits& limits);

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerWriteReactor<v1::ChatResponse>* Chat(grpc::CallbackServerContext* context,
                                                   const v1::ChatRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

  // The limits the service validates against before SetEngine(): the model's context and the
  // harmony + config stop ids.
  static ServingLimits DefaultLimits(const ModelConfig& config);

 private:
  CallEnv Env() const;

  const ModelConfig config_;
  const std::string model_name_;
  const Tokenizer* const tokenizer_;
  const harmony::HarmonyRenderer* const renderer_;
  const WorkerPool* const pool_;

  mutable std::mutex mu_;
  std::shared_ptr<EngineLoop> engine_;
  ServingLimits limits_;
};

}  // namespace gptoss
