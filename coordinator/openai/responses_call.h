// POST /v1/responses: a HarmonyCall rendered as OpenAI's Response object (output items:
// "reasoning" with reasoning_text content, "message" with output_text content, "function_call"
// with call_id/name/arguments), or as its typed SSE events ("event: TYPE" + "data: {json}",
// each with a sequence_number): response.created, response.in_progress, then per item
// response.output_item.added, content_part.added / *.delta / *.done, response.output_item.done,
// and last response.completed (or response.incomplete at max_output_tokens, with
// incomplete_details.reason "max_output_tokens").
// Nothing is stored: store is accepted and ignored, previous_response_id is refused
// (harmony_request.h).
#pragma once

#include "coordinator/openai/harmony_call.h"

namespace gptoss::openai {

class ResponsesCall final : public HarmonyCall {
 public:
  static std::shared_ptr<ResponsesCall> Create(std::shared_ptr<HttpResponder> responder,
                                               const HarmonyRequest& request, const Json& body,
                                               std::string model, const Tokenizer* tokenizer);

 private:
  const char* rpc() const override { return "http:Responses"; }
  ResponsesCall(std::shared_ptr<HttpResponder> responder, const HarmonyRequest& request,
                const Json& body, std::string model, const Tokenizer* tokenizer);
  void OnPartBegin(Part part, const ToolCallPart* call) override;
  void OnPartDelta(Part part, const std::string& text, const v1::ChatDelta& delta) override;
  void OnPartEnd(Part part) override;
  void OnFinish(const std::string& finish_reason) override;
  void OnAdmitted() override { SendStart(); }  // streams: response.created at once
  // The Responses protocol's own error event (typed, numbered, no [DONE]).
  void StreamError(const absl::Status& error) override;

  Json ResponseObject(const std::string& status) const;
  void Event(const std::string& type, Json fields);
  void SendStart();

  const std::string id_;
  const int64_t created_;
  Json echo_;  // the request fields a Response object repeats
  Json output_ = Json::array();
  std::string text_;  // of the open item
  bool started_ = false;
  int sequence_ = 0;
};

}  // namespace gptoss::openai
