// OpenAI chat-style requests (POST /v1/chat/completions and POST /v1/responses) → the same
// v1::ChatRequest the gRPC Chat rpc takes, so that both front ends share one validation and one
// harmony rendering (chat_call.h). Pure: no engine, no I/O.
// Contract:
//  - Every supported field maps to its ChatRequest field (see the README's HTTP API table);
//    fields that would change the answer but are not supported (n > 1, response_format other than
//    text, logit_bias, audio, previous_response_id, background, ...) are InvalidArgument naming
//    the parameter; unknown fields too (OpenAI's own behaviour).
//  - Chat messages: "system" and "developer" messages before the conversation become the harmony
//    developer instructions (gpt-oss keeps its system message for the model identity and
//    reasoning effort); assistant messages bring their reasoning (reasoning_content or reasoning:
//    an analysis message), their text (final, or a commentary preamble when they call tools) and
//    their tool_calls (commentary messages to functions.NAME, <|constrain|>json); a tool message
//    names its call by tool_call_id, resolved to the function of the assistant call with that id.
//  - tool_choice: "auto" (default); "none" renders no tools; "required" and a named function
//    force the call by ending the prompt with the header prefix "<|channel|>commentary
//    to=functions[.NAME]" (the model then skips its analysis for that turn).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/openai/openai_json.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "proto/gptoss/v1/inference.pb.h"

namespace gptoss::openai {

struct ToolChoice {
  enum class Mode { kAuto, kNone, kRequired, kNamed };
  Mode mode = Mode::kAuto;
  std::string name;  // kNamed
};

struct HarmonyRequest {
  v1::ChatRequest chat;  // include_analysis set: the reasoning is returned separately
  ToolChoice tool_choice;
  bool stream = false;
  bool include_usage = false;      // stream_options.include_usage
  bool include_reasoning = true;   // reasoning returned at all
  int top_logprobs = 0;
};

absl::StatusOr<HarmonyRequest> ParseChatCompletionRequest(const Json& body);

// The sampling fields every endpoint takes (temperature, top_p, top_k, min_p, presence_penalty,
// frequency_penalty, repetition_penalty, seed): types here, ranges in ValidateCommon.
absl::Status ReadSampling(const Fields& f, v1::SamplingParams* s);
// Fields that change nothing we compute (accounting, routing and storage hints of OpenAI's own
// platform): accepted and ignored by every endpoint.
extern const std::vector<absl::string_view> kIgnoredFields;
absl::StatusOr<HarmonyRequest> ParseResponsesRequest(const Json& body);

// The tokens that force `choice` (empty for auto and none), appended after the rendered prompt.
std::vector<int> ToolChoicePrefill(const ToolChoice& choice, const Tokenizer& tokenizer);

// Renames the proto field path that starts a validation error of ChatCall::Prepare
// ("sampling.top_p: ...") to the OpenAI parameter ("top_p: ..."); `max_tokens_param` is the name
// the request used for the token limit.
absl::Status ToOpenAiParams(const absl::Status& status, const std::string& max_tokens_param);

}  // namespace gptoss::openai
