// GenerateCall: one Inference.Generate stream (inference.proto). Validates the request,
// submits it to the engine and turns every sampled token into a GenerateChunk
// (GenerateEventStream: UTF-8-safe text, stop strings, logprobs); then exactly one FinalInfo.
// Contract: invalid requests end with INVALID_ARGUMENT naming the field before anything is
// streamed; admission errors (RESOURCE_EXHAUSTED, UNAVAILABLE) likewise. A stop token is
// returned in token_ids but adds no text. A client cancel/deadline cancels the sequence in the
// engine (its KV blocks are freed at the next step).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "coordinator/generate_stream.h"
#include "coordinator/serving_call.h"

namespace gptoss {

class GenerateCall final : public ServingCall<v1::GenerateResponse> {
 public:
  // Creates the call, validates and submits; returns the reactor for the gRPC handler.
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(const CallEnv& env,
                                                               const v1::GenerateRequest& request);

  // Validates the request and builds its prompt: INVALID_ARGUMENT naming the field. Pure: no
  // engine is needed (the limits and the tokenizer/renderer come from `env`).
  static absl::StatusOr<PreparedRequest> Prepare(const CallEnv& env,
                                                 const v1::GenerateRequest& request);

  bool OnToken(const SequenceUpdate& update) override;

 private:
  explicit GenerateCall(const CallEnv& env);
  absl::Status Submit(const v1::GenerateRequest& request);

  const char* rpc() const override { return "Generate"; }
  bool MergeInto(v1::GenerateResponse& into, const v1::GenerateResponse& next) override;

  // Engine-thread state (set up by Submit before admission).
  std::optional<GenerateEventStream> stream_;
};

}  // namespace gptoss
