#include "coordinator/openai/responses_call.h"

namespace gptoss::openai {

std::shared_ptr<ResponsesCall> ResponsesCall::Create(std::shared_ptr<HttpResponder> responder,
                                                     const HarmonyRequest& request,
                                                     const Json& body, std::string model,
                                                     const Tokenizer* tokenizer) {
  return std::shared_ptr<ResponsesCall>(
      new ResponsesCall(std::move(responder), request, body, std::move(model), tokenizer));
}

namespace {

// The request's tools as a Response object echoes them: rebuilt from what was validated, not
// the client's raw JSON.
Json Tools(const v1::ChatRequest& chat) {
  Json tools = Json::array();
  for (const v1::FunctionTool& t : chat.tools()) {
    Json tool = {{"type", "function"}, {"name", t.name()}, {"description", t.description()}};
    tool["parameters"] = t.parameters_json().empty()
                             ? Json(nullptr)
                             : Json::parse(t.parameters_json(), nullptr, /*allow_exceptions=*/false);
    tools.push_back(std::move(tool));
  }
  return tools;
}

}  // namespace

ResponsesCall::ResponsesCall(std::shared_ptr<HttpResponder> responder,
                             const HarmonyRequest& request, const Json& body, std::string model,
                             const Tokenizer* tokenizer)
    : HarmonyCall(std::move(responder), request, std::move(model), tokenizer),
      id_(RandomId("resp_")),
      created_(UnixNow()) {
  auto get = [&](const char* key, Json fallback) {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? fallback : *it;
  };
  echo_ = {{"instructions", get("instructions", nullptr)},
           {"max_output_tokens", get("max_output_tokens", nullptr)},
           {"temperature", get("temperature", 1.0)},
           {"top_p", get("top_p", 1.0)},
           {"tools", Tools(request.chat)},
           {"tool_choice", get("tool_choice", "auto")},
           {"parallel_tool_calls", get("parallel_tool_calls", true)},
           {"reasoning", {{"effort", request.chat.reasoning_effort() == v1::REASONING_EFFORT_LOW
                                             ? "low"
                                         : request.chat.reasoning_effort() ==
                                                 v1::REASONING_EFFORT_HIGH
                                             ? "high"
                                             : "medium"},
                          {"summary", nullptr}}},
           {"metadata", get("metadata", Json::object())},
           {"user", get("user", nullptr)}};
}

Json ResponsesCall::ResponseObject(const std::string& status) const {
  Json r = {{"id", id_},
            {"object", "response"},
            {"created_at", created_},
            {"status", status},
            {"model", model()},
            {"output", output_},
            {"error", nullptr},
            {"incomplete_details", nullptr},
            {"previous_response_id", nullptr},
            {"store", false},
            {"text", {{"format", {{"type", "text"}}}}},
            {"truncation", "disabled"}};
  for (auto it = echo_.begin(); it != echo_.end(); ++it) r[it.key()] = it.value();
  if (status == "incomplete") r["incomplete_details"] = {{"reason", "max_output_tokens"}};
  if (status != "in_progress") {
    const int in = prompt_tokens(), out = completion_tokens();
    r["usage"] = {{"input_tokens", in},
                  {"input_tokens_details", {{"cached_tokens", 0}}},
                  {"output_tokens", out},
                  {"output_tokens_details", {{"reasoning_tokens", reasoning_tokens()}}},
                  {"total_tokens", in + out}};
  } else {
    r["usage"] = nullptr;
  }
  return r;
}

void ResponsesCall::Event(const std::string& type, Json fields) {
  if (!streaming()) return;
  Json event = {{"type", type}, {"sequence_number", sequence_++}};
  for (auto it = fields.begin(); it != fields.end(); ++it) event[it.key()] = it.value();
  SendEvent(event, type);
}

void ResponsesCall::SendStart() {
  if (started_) return;
  started_ = true;
  Event("response.created", {{"response", ResponseObject("in_progress")}});
  Event("response.in_progress", {{"response", ResponseObject("in_progress")}});
}

void ResponsesCall::OnPartBegin(Part part, const ToolCallPart* call) {
  SendStart();
  text_.clear();
  Json item;
  switch (part) {
    case Part::kReasoning:
      item = {{"type", "reasoning"}, {"id", RandomId("rs_")}, {"summary", Json::array()},
              {"content", Json::array()}, {"status", "in_progress"}};
      break;
    case Part::kText:
      item = {{"type", "message"}, {"id", RandomId("msg_")}, {"status", "in_progress"},
              {"role", "assistant"}, {"content", Json::array()}};
      break;
    case Part::kToolCall:
      item = {{"type", "function_call"}, {"id", RandomId("fc_")}, {"call_id", call->id},
              {"name", call->name}, {"arguments", ""}, {"status", "in_progress"}};
      break;
    case Part::kNone:
      return;
  }
  output_.push_back(item);
  const int index = static_cast<int>(output_.size()) - 1;
  Event("response.output_item.added", {{"output_index", index}, {"item", item}});
  if (part == Part::kText)
    Event("response.content_part.added",
          {{"item_id", item["id"]}, {"output_index", index}, {"content_index", 0},
           {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", Json::array()}}}});
  if (part == Part::kReasoning)
    Event("response.content_part.added",
          {{"item_id", item["id"]}, {"output_index", index}, {"content_index", 0},
           {"part", {{"type", "reasoning_text"}, {"text", ""}}}});
}

void ResponsesCall::OnPartDelta(Part part, const std::string& text, const v1::ChatDelta&) {
  text_ += text;
  const int index = static_cast<int>(output_.size()) - 1;
  const Json& id = output_[index]["id"];
  switch (part) {
    case Part::kReasoning:
      Event("response.reasoning_text.delta",
            {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"delta", text}});
      break;
    case Part::kText:
      Event("response.output_text.delta", {{"item_id", id}, {"output_index", index},
                                           {"content_index", 0}, {"delta", text},
                                           {"logprobs", Json::array()}});
      break;
    case Part::kToolCall:
      Event("response.function_call_arguments.delta",
            {{"item_id", id}, {"output_index", index}, {"delta", text}});
      break;
    case Part::kNone:
      break;
  }
}

void ResponsesCall::OnPartEnd(Part part) {
  const int index = static_cast<int>(output_.size()) - 1;
  Json& item = output_[index];
  const Json id = item["id"];
  item["status"] = "completed";
  switch (part) {
    case Part::kReasoning: {
      const Json content = {{"type", "reasoning_text"}, {"text", text_}};
      item["content"] = Json::array({content});
      Event("response.reasoning_text.done",
            {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"text", text_}});
      Event("response.content_part.done",
            {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"part", content}});
      break;
    }
    case Part::kText: {
      const Json content = {{"type", "output_text"}, {"text", text_},
                            {"annotations", Json::array()}, {"logprobs", Json::array()}};
      item["content"] = Json::array({content});
      Event("response.output_text.done", {{"item_id", id}, {"output_index", index},
                                          {"content_index", 0}, {"text", text_},
                                          {"logprobs", Json::array()}});
      Event("response.content_part.done",
            {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"part", content}});
      break;
    }
    case Part::kToolCall:
      item["arguments"] = text_;
      Event("response.function_call_arguments.done",
            {{"item_id", id}, {"output_index", index}, {"name", item["name"]},
             {"arguments", text_}});
      break;
    case Part::kNone:
      return;
  }
  Event("response.output_item.done", {{"output_index", index}, {"item", item}});
  text_.clear();
}

void ResponsesCall::StreamError(const absl::Status& error) {
  const Json body = ErrorJson(error)["error"];
  Event("error", {{"code", body["code"].is_null() ? Json(body["type"]) : body["code"]},
                  {"message", body["message"]},
                  {"param", body["param"]}});
  EndStream();
}

void ResponsesCall::OnFinish(const std::string& finish_reason) {
  const std::string status = finish_reason == "length" ? "incomplete" : "completed";
  if (!streaming()) {
    Respond(ResponseObject(status));
    return;
  }
  SendStart();
  Event(status == "completed" ? "response.completed" : "response.incomplete",
        {{"response", ResponseObject(status)}});
  EndStream();
}

}  // namespace gptoss::openai
