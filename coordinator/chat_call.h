// ChatCall: one Inference.Chat stream (inference.proto). Renders the request with the harmony
// renderer (chat_prompt.h), submits it, streams the events ChatEventStream makes of the sampled
// tokens (channel-tagged deltas, tool calls; chat_stream.h) and ends with one FinalInfo
// (TOOL_CALLS after <|call|>).
// Contract:
//  - Generation stops at <|return|>, <|call|> and <|endoftext|> (plus the request's stop ids);
//    ignore_eos is INVALID_ARGUMENT. usage counts every token, streamed or not.
//  - Malformed model output (a header that does not parse) produces no events for that part;
//    the parser resynchronizes at the next <|start|>.
//  - Errors and cancellation as for GenerateCall.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "coordinator/call_common.h"
#include "coordinator/chat_stream.h"
#include "coordinator/stream_reactor.h"

namespace gptoss {

class ChatCall final : public StreamReactor<v1::ChatResponse>, public RequestObserver {
 public:
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(const CallEnv& env,
                                                           const v1::ChatRequest& request);

  // Validates the request and builds its prompt: INVALID_ARGUMENT naming the field. Pure: no
  // engine is needed (the limits and the tokenizer/renderer come from `env`).
  static absl::StatusOr<PreparedRequest> Prepare(const CallEnv& env,
                                                 const v1::ChatRequest& request);

  bool OnToken(const SequenceUpdate& update) override;
  void OnEnded(FinishReason reason, const absl::Status& error) override;

 private:
  explicit ChatCall(const CallEnv& env) : env_(env) {}
  absl::Status Submit(const v1::ChatRequest& request);
  void SendFinal(v1::FinishReason reason, const std::string& stop_reason,
                 const std::string& error_message);

  bool MergeInto(v1::ChatResponse& into, const v1::ChatResponse& next) override;
  void OnCancelled() override;

  const CallEnv env_;
  // Engine-thread state (set up by Submit before admission).
  std::optional<ChatEventStream> events_;
  RequestTracker tracker_;
  int prompt_tokens_ = 0;
  uint64_t seed_ = 0;
  std::string request_id_;
  // Submission vs. cancellation.
  std::mutex mu_;
  std::optional<SequenceId> id_;
  bool cancel_requested_ = false;
};

}  // namespace gptoss
