// ChatEventStream: the sampled tokens of one Chat request → ChatResponse events (inference.proto),
// without any gRPC, so it is tested on its own (tests/coordinator/service_chat_stream_test.cc).
//  - Every token goes through a harmony streaming parser whose first message has the assistant
//    role (the prompt ends with "<|start|>assistant"). Message content becomes ChatDelta events
//    tagged with the message's channel and recipient; "analysis" text only with
//    include_analysis. A completed assistant message addressed to a tool becomes a ToolCall
//    ("functions.x" → name "x"; other namespaces keep the whole recipient). A recipient with a
//    special-token literal in it (a malformed header) is no recipient: its text is plain text.
//  - <|return|> and <|call|> end the message inside the parser; any other stop id (<|endoftext|>,
//    the request's own ids) adds no text. A token that ends the request (finish != kNone)
//    closes an open message like harmony does at EOS.
//  - Stop strings match the content text, never headers, and never span two messages (held-back
//    text is flushed into the message it belongs to when the message ends).
//  - ChatDelta.token_ids: the tokens since the previous delta; their logprobs when asked.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler/scheduler.h"
#include "coordinator/stop_strings.h"
#include "coordinator/tokenizer/harmony_parser.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "proto/gptoss/v1/inference.pb.h"

namespace gptoss {

class ChatEventStream {
 public:
  struct Options {
    bool include_analysis = false;
    bool logprobs = false;
    std::vector<std::string> stop_strings;
    // Tokens the prompt ends with after "<|start|>assistant" (a forced header prefix such as
    // "<|channel|>commentary to=functions.f" for a required tool call): the parser reads them
    // first, as if generated, and no event reports them.
    std::vector<int> prefill;
  };
  ChatEventStream(const Tokenizer* tokenizer, Options options);

  struct Step {
    std::vector<v1::ChatResponse> events;    // deltas and tool calls, in order
    std::optional<std::string> stop_string;  // a stop string matched: the request ends here
  };
  Step OnToken(const SequenceUpdate& update);

  // The finish reason of a request whose last token was `update` (finish != kNone) and that no
  // stop string ended: TOOL_CALLS after a <|call|> that made a tool call event, STOP (with the
  // token's literal as stop_reason) for other stop ids, LENGTH otherwise.
  v1::FinishReason FinishReasonOf(const SequenceUpdate& update, std::string* stop_reason) const;

 private:
  void AddDelta(std::string text, Step& step);

  const Tokenizer* tokenizer_;
  const Options options_;
  harmony::HarmonyStreamParser parser_;
  std::optional<StopStringMatcher> stops_;
  std::string channel_;    // of the message being generated
  std::string recipient_;  // of the message being generated
  std::vector<int32_t> pending_ids_;
  std::vector<v1::TokenLogprob> pending_logprobs_;
  int num_tool_calls_ = 0;
};

}  // namespace gptoss
