// What the Generate and Chat calls share: their environment (engine, tokenizer, limits), the
// per-request clock and usage, and the FinalInfo / logprob messages.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/engine_loop.h"
#include "coordinator/request_validation.h"
#include "coordinator/tokenizer/harmony_renderer.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "grpcpp/support/status.h"
#include "proto/gptoss/v1/inference.pb.h"

namespace gptoss {

class ServingMetrics;  // coordinator/serving_metrics.h

struct CallEnv {
  std::shared_ptr<EngineLoop> engine;  // null until the workers are ready
  const Tokenizer* tokenizer = nullptr;
  const harmony::HarmonyRenderer* renderer = nullptr;
  ServingLimits limits;
  // Not OK: the call must not run (no valid API key); it ends with this status at once.
  absl::Status refusal;
  ServingMetrics* metrics = nullptr;  // where the call's end is counted (optional)
};

// A validated request, ready for the engine: what Generate and Chat hand to it (and what any
// front end, or a fuzzer, can compute without an engine).
struct PreparedRequest {
  CommonParams params;
  std::vector<int32_t> prompt;
};

// Times (admission → first token → end) and counts of one request, for FinalInfo.
class RequestTracker {
 public:
  RequestTracker() : start_(std::chrono::steady_clock::now()) {}
  void OnToken() {
    if (!first_token_) first_token_ = std::chrono::steady_clock::now();
    ++completion_tokens_;
  }
  int completion_tokens() const { return completion_tokens_; }
  // finish_reason, usage, seed, request_id and the times; error_message for kError.
  void FillFinal(v1::FinishReason reason, int prompt_tokens, uint64_t seed,
                 const std::string& request_id, v1::FinalInfo* final) const;

 private:
  std::chrono::steady_clock::time_point start_;
  std::optional<std::chrono::steady_clock::time_point> first_token_;
  int completion_tokens_ = 0;
};

// The hand-over of one prepared request to the engine, racing the client's cancel; any front end
// (gRPC, HTTP) admits through it. Thread-safe.
//  - Submit() submits once; a Cancel() that came before it cancels the sequence at once, one
//    that comes after reaches the engine directly. Without an engine: UNAVAILABLE.
class Admission {
 public:
  absl::Status Submit(std::shared_ptr<EngineLoop> engine, SequenceRequest request,
                      std::shared_ptr<RequestObserver> observer);
  void Cancel();

 private:
  std::mutex mu_;
  std::shared_ptr<EngineLoop> engine_;
  std::optional<SequenceId> id_;
  bool cancel_requested_ = false;
};

// The wire logprob of a sampled token (token_bytes of the alternatives from the tokenizer).
void FillTokenLogprob(const SequenceUpdate& update, const Tokenizer& tokenizer,
                      v1::TokenLogprob* out);

// The status a call ends with after a failure past admission: UNAVAILABLE when the workers are
// gone, INTERNAL otherwise (the request itself was valid).
grpc::Status FailureStatus(const absl::Status& error);

}  // namespace gptoss
