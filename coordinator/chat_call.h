// ChatCall: one Inference.Chat stream (inference.proto). Renders the request with the harmony
// renderer (chat_prompt.h), submits it, and feeds every sampled token to a harmony streaming
// parser: message content becomes ChatDelta events tagged with the message's channel and
// recipient (analysis only when include_analysis), a completed assistant message addressed to a
// tool becomes a ToolCall, and the stream ends with one FinalInfo (TOOL_CALLS after <|call|>).
// Contract:
//  - Generation stops at <|return|>, <|call|> and <|endoftext|> (plus the request's stop ids);
//    stop strings match the content text (never harmony headers) and never span two messages.
//  - ChatDelta.token_ids are the tokens since the previous delta (header and end tokens
//    included); tokens of suppressed analysis text are not sent. usage counts every token.
//  - Malformed model output (a header that does not parse) produces no events for that part;
//    the parser resynchronizes at the next <|start|>.
//  - Errors and cancellation as for GenerateCall.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/call_common.h"
#include "coordinator/stop_strings.h"
#include "coordinator/stream_reactor.h"
#include "coordinator/tokenizer/harmony_parser.h"

namespace gptoss {

class ChatCall final : public StreamReactor<v1::ChatResponse>, public RequestObserver {
 public:
  static grpc::ServerWriteReactor<v1::ChatResponse>* Start(const CallEnv& env,
                                                           const v1::ChatRequest& request);

  bool OnToken(const SequenceUpdate& update) override;
  void OnEnded(FinishReason reason, const absl::Status& error) override;

 private:
  explicit ChatCall(const CallEnv& env);
  absl::Status Submit(const v1::ChatRequest& request);
  // Sends `text` of the current message (with the pending token ids) unless suppressed.
  void SendDelta(std::string text);
  void SendFinal(v1::FinishReason reason, const std::string& stop_reason,
                 const std::string& error_message);

  bool MergeInto(v1::ChatResponse& into, const v1::ChatResponse& next) override;
  void OnCancelled() override;

  const CallEnv env_;
  // Engine-thread state.
  harmony::HarmonyStreamParser parser_;
  std::optional<StopStringMatcher> stops_;
  std::vector<std::string> stop_strings_;
  RequestTracker tracker_;
  std::string channel_;    // of the message being generated
  std::string recipient_;  // of the message being generated
  std::vector<int32_t> pending_ids_;
  std::vector<v1::TokenLogprob> pending_logprobs_;
  int num_tool_calls_ = 0;
  int prompt_tokens_ = 0;
  uint64_t seed_ = 0;
  std::string request_id_;
  bool want_logprobs_ = false;
  bool include_analysis_ = false;
  // Submission vs. cancellation.
  std::mutex mu_;
  std::optional<SequenceId> id_;
  bool cancel_requested_ = false;
};

}  // namespace gptoss
