#include "coordinator/openai/chat_completions_call.h"

namespace gptoss::openai {

std::shared_ptr<ChatCompletionCall> ChatCompletionCall::Create(
    std::shared_ptr<HttpResponder> responder, const HarmonyRequest& request, std::string model,
    const Tokenizer* tokenizer) {
  return std::shared_ptr<ChatCompletionCall>(
      new ChatCompletionCall(std::move(responder), request, std::move(model), tokenizer));
}

ChatCompletionCall::ChatCompletionCall(std::shared_ptr<HttpResponder> responder,
                                       const HarmonyRequest& request, std::string model,
                                       const Tokenizer* tokenizer)
    : HarmonyCall(std::move(responder), request, std::move(model), tokenizer),
      id_(RandomId("chatcmpl-")),
      created_(UnixNow()),
      include_usage_(request.include_usage),
      logprobs_(request.chat.logprobs().enabled()) {}

Json ChatCompletionCall::Chunk(Json delta, const Json& finish_reason, Json logprobs) const {
  Json chunk = {{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created_},
                {"model", model()},
                {"system_fingerprint", nullptr},
                {"choices", Json::array({{{"index", 0},
                                          {"delta", std::move(delta)},
                                          {"logprobs", std::move(logprobs)},
                                          {"finish_reason", finish_reason}}})}};
  if (include_usage_) chunk["usage"] = nullptr;
  return chunk;
}

void ChatCompletionCall::OnAdmitted() {
  if (streaming() && !role_sent_) {
    role_sent_ = true;
    SendEvent(Chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  }
}

void ChatCompletionCall::SendChunk(Json delta, Json logprobs) {
  if (!role_sent_) {
    role_sent_ = true;
    SendEvent(Chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  }
  SendEvent(Chunk(std::move(delta), nullptr, std::move(logprobs)));
}

void ChatCompletionCall::OnPartBegin(Part part, const ToolCallPart* call) {
  if (part != Part::kToolCall) return;
  const int index = static_cast<int>(tool_calls_.size());
  tool_calls_.push_back({{"id", call->id},
                         {"type", "function"},
                         {"function", {{"name", call->name}, {"arguments", ""}}}});
  if (streaming())
    SendChunk({{"tool_calls", Json::array({{{"index", index},
                                            {"id", call->id},
                                            {"type", "function"},
                                            {"function", {{"name", call->name},
                                                          {"arguments", ""}}}}})}});
}

void ChatCompletionCall::OnPartDelta(Part part, const std::string& text,
                                     const v1::ChatDelta& delta) {
  switch (part) {
    case Part::kReasoning:
      reasoning_ += text;
      if (streaming()) SendChunk({{"reasoning_content", text}});
      break;
    case Part::kText: {
      content_ += text;
      Json logprobs = nullptr;
      if (logprobs_) {
        Json entries = ContentLogprobs(delta);
        for (const Json& e : entries) content_logprobs_.push_back(e);
        logprobs = {{"content", std::move(entries)}, {"refusal", nullptr}};
      }
      if (streaming()) SendChunk({{"content", text}}, std::move(logprobs));
      break;
    }
    case Part::kToolCall: {
      const int index = static_cast<int>(tool_calls_.size()) - 1;
      std::string args = tool_calls_[index]["function"]["arguments"].get<std::string>() + text;
      tool_calls_[index]["function"]["arguments"] = std::move(args);
      if (streaming())
        SendChunk({{"tool_calls",
                    Json::array({{{"index", index}, {"function", {{"arguments", text}}}}})}});
      break;
    }
    case Part::kNone:
      break;
  }
}

void ChatCompletionCall::OnFinish(const std::string& finish_reason) {
  const Json usage = UsageJson(reasoning_tokens());
  if (streaming()) {
    if (!role_sent_) SendChunk({{"content", ""}});
    SendEvent(Chunk(Json::object(), finish_reason));
    if (include_usage_) {
      Json last = Chunk(Json::object(), nullptr);
      last["choices"] = Json::array();
      last["usage"] = usage;
      SendEvent(last);
    }
    SendDone();
    return;
  }
  Json message = {{"role", "assistant"},
                  {"content", content_.empty() && !tool_calls_.empty() ? Json(nullptr)
                                                                      : Json(content_)}};
  if (!reasoning_.empty()) message["reasoning_content"] = reasoning_;
  if (!tool_calls_.empty()) message["tool_calls"] = tool_calls_;
  Json logprobs = nullptr;
  if (logprobs_) logprobs = {{"content", content_logprobs_}, {"refusal", nullptr}};
  Respond({{"id", id_},
           {"object", "chat.completion"},
           {"created", created_},
           {"model", model()},
           {"system_fingerprint", nullptr},
           {"choices", Json::array({{{"index", 0},
                                     {"message", std::move(message)},
                                     {"logprobs", std::move(logprobs)},
                                     {"finish_reason", finish_reason}}})},
           {"usage", usage}});
}

}  // namespace gptoss::openai
