// POST /v1/completions: a raw completion (the prompt verbatim, no chat template) through the
// same validation and token stream as the gRPC Generate rpc (GenerateCall::Prepare,
// GenerateEventStream), rendered as OpenAI's text_completion object or its SSE chunks ending with
// "data: [DONE]".
// Contract:
//  - prompt: a string, an array of token ids, or an array holding one of those (several prompts
//    in one request: 400). max_tokens defaults to 16 (OpenAI's default). echo, suffix, best_of > 1
//    and n > 1: 400 naming the parameter.
//  - logprobs: N (0..5) gives OpenAI's legacy object: tokens, token_logprobs, top_logprobs (N
//    alternatives per token, token text → logprob) and text_offset.
//  - Special tokens add no text unless skip_special_tokens: false (vLLM's extension).
//  - finish_reason "stop" (an end-of-sequence id or a stop string) or "length".
#pragma once

#include "coordinator/generate_stream.h"
#include "coordinator/openai/http_call.h"
#include "coordinator/openai/openai_json.h"

namespace gptoss::openai {

struct CompletionRequest {
  v1::GenerateRequest generate;
  bool stream = false;
  bool include_usage = false;
  bool skip_special_tokens = true;  // special tokens add no text (vLLM's default)
};

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const Json& body);

class CompletionCall final : public HttpCall {
 public:
  static std::shared_ptr<CompletionCall> Create(std::shared_ptr<HttpResponder> responder,
                                                const CompletionRequest& request,
                                                std::string model, const Tokenizer* tokenizer);
  absl::Status Start(const CallEnv& env, const CompletionRequest& request);

 private:
  const char* rpc() const override { return "http:Completions"; }
  CompletionCall(std::shared_ptr<HttpResponder> responder, const CompletionRequest& request,
                 std::string model, const Tokenizer* tokenizer);
  bool Consume(const SequenceUpdate& update) override;
  Json Choice(const std::string& text, Json logprobs, const Json& finish_reason) const;
  Json Object(Json choices) const;
  void AddLogprobs(const v1::GenerateChunk& chunk, Json& into);

  const Tokenizer* const tokenizer_;
  const std::string id_;
  const int64_t created_;
  const bool include_usage_;
  const bool logprobs_;
  std::optional<GenerateEventStream> stream_;
  std::string text_;
  Json logprob_json_;  // the whole answer's logprobs object (not streamed)
};

}  // namespace gptoss::openai
