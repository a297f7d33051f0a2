// HarmonyCall: what /v1/chat/completions and /v1/responses share — the assistant's turn, parsed
// by ChatEventStream (chat_stream.h, the same parser as the gRPC Chat rpc), as a sequence of
// parts: reasoning (the analysis channel), text (final answers and commentary preambles) and
// tool calls (commentary messages to a tool). Each part begins, grows by deltas and ends, in
// order; the endpoints render them (chat_completions_call.h, responses_call.h).
// Contract:
//  - A tool call part begins with the call's first argument text (or at its end if it had none),
//    with a fresh id "call_<24 hex>" and the function name without "functions."; its deltas
//    concatenate to the arguments exactly as generated ("{}" when the model wrote none).
//  - Nothing raw from harmony reaches a part: headers and special tokens are the parser's.
//  - Finish reasons: "tool_calls" after <|call|>, "stop" after <|return|>/<|endoftext|>, a stop
//    string or id, "length" at max_tokens or the context's end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "coordinator/chat_stream.h"
#include "coordinator/openai/harmony_request.h"
#include "coordinator/openai/http_call.h"

namespace gptoss::openai {

class HarmonyCall : public HttpCall {
 public:
  enum class Part { kNone, kReasoning, kText, kToolCall };
  struct ToolCallPart {
    std::string id;
    std::string name;
  };

  // Validates and renders `request` (ChatCall::Prepare plus the tool choice's prefill) and
  // admits it. Errors name the OpenAI parameter.
  absl::Status Start(const CallEnv& env, const HarmonyRequest& request,
                     const std::string& max_tokens_param);

 protected:
  HarmonyCall(std::shared_ptr<HttpResponder> responder, const HarmonyRequest& request,
              std::string model, const Tokenizer* tokenizer)
      : HttpCall(std::move(responder), request.stream, std::move(model)),
        tokenizer_(tokenizer),
        include_reasoning_(request.include_reasoning) {}

  virtual void OnPartBegin(Part part, const ToolCallPart* call) = 0;
  virtual void OnPartDelta(Part part, const std::string& text, const v1::ChatDelta& delta) = 0;
  virtual void OnPartEnd(Part part) = 0;
  virtual void OnFinish(const std::string& finish_reason) = 0;

  int reasoning_tokens() const { return reasoning_tokens_; }
  const Tokenizer* tokenizer() const { return tokenizer_; }

  // OpenAI logprob entries ({token, logprob, bytes, top_logprobs}) of the content tokens of
  // `delta` (header and special tokens are left out).
  Json ContentLogprobs(const v1::ChatDelta& delta) const;

 private:
  bool Consume(const SequenceUpdate& update) final;
  void Begin(Part part, const std::string& recipient);
  void EndPart();

  const Tokenizer* const tokenizer_;
  const bool include_reasoning_;
  std::optional<ChatEventStream> events_;
  Part part_ = Part::kNone;
  std::string recipient_;     // of the open tool call part
  bool part_has_text_ = false;
  int reasoning_tokens_ = 0;
};

}  // namespace gptoss::openai
