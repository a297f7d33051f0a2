// ChatCall: one Inference.Chat stream (inference.proto). Renders the request with the harmony
// renderer (chat_prompt.h), submits it, streams the events ChatEventStream makes of the sampled
// tokens (channel-tagged deltas, tool calls; chat_stream.h) and ends with one FinalInfo
// (TOOL_CALLS after a tool call).
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
#include "coordinator/serving_call.h"

namespace gptoss {

class ChatCall final : public ServingCall<v1::ChatResponse> {
 public:
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(const CallEnv& env,
                                                           const v1::ChatRequest& request);

  // Validates the request and builds its prompt: INVALID_ARGUMENT naming the field. Pure: no
  // engine is needed (the limits and the tokenizer/renderer come from `env`).
  static absl::StatusOr<PreparedRequest> Prepare(const CallEnv& env,
                                                 const v1::ChatRequest& request);

  // The engine's request for a prepared Chat: its stop ids plus harmony's (<|return|>, <|call|>,
  // <|endoftext|>), at which Chat always stops.
  static SequenceRequest Sequence(PreparedRequest prepared, const ServingLimits& limits);

  bool OnToken(const SequenceUpdate& update) override;

 private:
  explicit ChatCall(const CallEnv& env) : ServingCall(env) {}
  absl::Status Submit(const v1::ChatRequest& request);

  const char* rpc() const override { return "Chat"; }
  bool MergeInto(v1::ChatResponse& into, const v1::ChatResponse& next) override;

  // Engine-thread state (set up by Submit before admission).
  std::optional<ChatEventStream> events_;
};

}  // namespace gptoss
