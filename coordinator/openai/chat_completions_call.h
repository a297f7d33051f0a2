// POST /v1/chat/completions: a HarmonyCall rendered as OpenAI's chat.completion object, or as
// chat.completion.chunk SSE events ending with "data: [DONE]".
// Contract (beyond harmony_call.h):
//  - message.content is the text (final answer, and commentary preambles), null when the turn
//    is only tool calls; message.reasoning_content the analysis (never inside content), absent
//    with include_reasoning: false; message.tool_calls the calls; finish_reason stop, length or
//    tool_calls; usage counts every generated token (completion_tokens_details.reasoning_tokens:
//    the analysis).
//  - Streaming: the first chunk has delta.role "assistant"; reasoning and content arrive as
//    delta.reasoning_content / delta.content pieces; a tool call as a first delta with index, id,
//    type and name, then its arguments in pieces; one chunk with the finish_reason; with
//    stream_options.include_usage a last chunk with "choices": [] and the usage (every other
//    chunk then carries "usage": null).
//  - logprobs: one entry per content token (the tokens of the text; none for reasoning or tool
//    arguments).
#pragma once

#include "coordinator/openai/harmony_call.h"

namespace gptoss::openai {

class ChatCompletionCall final : public HarmonyCall {
 public:
  static std::shared_ptr<ChatCompletionCall> Create(std::shared_ptr<HttpResponder> responder,
                                                    const HarmonyRequest& request,
                                                    std::string model, const Tokenizer* tokenizer);

 private:
  const char* rpc() const override { return "http:ChatCompletions"; }
  ChatCompletionCall(std::shared_ptr<HttpResponder> responder, const HarmonyRequest& request,
                     std::string model, const Tokenizer* tokenizer);
  void OnPartBegin(Part part, const ToolCallPart* call) override;
  void OnPartDelta(Part part, const std::string& text, const v1::ChatDelta& delta) override;
  void OnPartEnd(Part) override {}
  void OnAdmitted() override;  // streams: the role chunk at once
  void OnFinish(const std::string& finish_reason) override;

  Json Chunk(Json delta, const Json& finish_reason, Json logprobs = nullptr) const;
  void SendChunk(Json delta, Json logprobs = nullptr);

  const std::string id_;
  const int64_t created_;
  const bool include_usage_;
  const bool logprobs_;
  bool role_sent_ = false;
  // The whole answer (not streamed).
  std::string content_, reasoning_;
  Json tool_calls_ = Json::array();
  Json content_logprobs_ = Json::array();
};

}  // namespace gptoss::openai
