// InferenceService: gptoss.v1.Inference (proto/gptoss/v1/inference.proto) on gRPC's callback
// API. Generate and Chat are server-streaming reactors (generate_call.h, chat_call.h) fed by the
// engine's delivery thread; Tokenize, Detokenize and GetModelInfo answer inline. Requests arrive as raw
// bytes and are parsed by wire_messages.h, so that a string field with invalid UTF-8 gets
// INVALID_ARGUMENT naming the field (gRPC's own parse failure says UNIMPLEMENTED, and nothing).
// Contract:
//  - Before SetEngine() (workers not ready yet) Generate and Chat validate the request and then
//    fail with UNAVAILABLE; Tokenize, Detokenize and GetModelInfo always work.
//  - With API keys, every rpc needs `authorization: Bearer <key>` (UNAUTHENTICATED otherwise);
//    health and reflection are other services and stay open.
//  - Bounded work: Tokenize is linear in its text (gRPC caps a request at 4 MB); Detokenize
//    refuses (RESOURCE_EXHAUSTED) to produce more than kMaxDetokenizeBytes. Large calls (a
//    request over kLargeRequestBytes: its tokenizing or prompt building is the expensive part;
//    or a Detokenize producing over kLargeRequestBytes) run at most kMaxLargeCalls at a time
//    (beyond: RESOURCE_EXHAUSTED at once), and a call whose client already cancelled or whose
//    deadline passed does no work.
//  - Every error leaves through ToGrpcStatus (status_mapping.h).
//  - Thread-safe: SetEngine() may race with calls; each call sees the engine or not.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "coordinator/api_keys.h"
#include "coordinator/call_common.h"
#include "coordinator/worker_pool.h"
#include "proto/gptoss/v1/inference.grpc.pb.h"
#include "worker/model/config.h"

namespace gptoss {

// Every method of gptoss.v1.Inference, taking and giving raw bytes.
using RawInferenceService = v1::Inference::WithRawCallbackMethod_Generate<
    v1::Inference::WithRawCallbackMethod_Chat<v1::Inference::WithRawCallbackMethod_Tokenize<
        v1::Inference::WithRawCallbackMethod_Detokenize<
            v1::Inference::WithRawCallbackMethod_GetModelInfo<v1::Inference::Service>>>>>;

class InferenceService final : public RawInferenceService {
 public:
  // Text a Detokenize call may produce (raw bytes; the response carries them twice).
  static constexpr size_t kMaxDetokenizeBytes = size_t{1} << 20;
  static constexpr size_t kLargeRequestBytes = size_t{64} << 10;
  static constexpr int kMaxLargeCalls = 4;

  // `tokenizer`, `renderer`, `pool` and `metrics` (optional: every rpc's end is counted there)
  // must outlive the service.
  InferenceService(const ModelConfig& config, std::string model_name, const Tokenizer* tokenizer,
                   const harmony::HarmonyRenderer* renderer, const WorkerPool* pool,
                   ApiKeys keys = {}, ServingMetrics* metrics = nullptr);

  // The engine is up: `limits.context_length` is what the KV pools allow.
  void SetEngine(std::shared_ptr<EngineLoop> engine, const ServingLimits& limits);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Chat(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

  // The limits the service validates against before SetEngine(): the model's context and the
  // harmony + config stop ids.
  static ServingLimits DefaultLimits(const ModelConfig& config);

  // The engine, limits, tokenizer and renderer of this moment: what every call runs with (the
  // HTTP API's too).
  CallEnv Env() const;

 private:
  absl::Status DoTokenize(const v1::TokenizeRequest& request, v1::TokenizeResponse* response) const;
  absl::Status DoDetokenize(const v1::DetokenizeRequest& request,
                            v1::DetokenizeResponse* response) const;
  absl::Status DoGetModelInfo(const CallEnv& env, v1::ModelInfo* info) const;

  const ModelConfig config_;
  const std::string model_name_;
  const Tokenizer* const tokenizer_;
  const harmony::HarmonyRenderer* const renderer_;
  const WorkerPool* const pool_;
  ServingMetrics* const metrics_;
  const ApiKeys keys_;
  mutable std::atomic<int> large_calls_{0};

  mutable std::mutex mu_;
  std::shared_ptr<EngineLoop> engine_;
  ServingLimits limits_;
};

}  // namespace gptoss
