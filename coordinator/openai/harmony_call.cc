#include "coordinator/openai/harmony_call.h"

#include "absl/strings/str_cat.h"
#include "coordinator/chat_call.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "coordinator/tokenizer/utf8.h"
#include "kernels/core/status.h"

namespace gptoss::openai {
namespace {

std::string FunctionName(const std::string& recipient) {
  return recipient.starts_with("functions.") ? recipient.substr(10) : recipient;
}

}  // namespace

absl::Status HarmonyCall::Start(const CallEnv& env, const HarmonyRequest& request,
                                const std::string& max_tokens_param) {
  absl::StatusOr<PreparedRequest> prepared = ChatCall::Prepare(env, request.chat);
  if (!prepared.ok()) return ToOpenAiParams(prepared.status(), max_tokens_param);
  const std::vector<int> prefill = ToolChoicePrefill(request.tool_choice, *env.tokenizer);
  prepared->prompt.insert(prepared->prompt.end(), prefill.begin(), prefill.end());
  if (!prefill.empty()) {
    absl::Status length =
        ValidatePromptLength(prepared->prompt.size(), prepared->params.max_tokens, env.limits);
    if (!length.ok()) return ToOpenAiParams(length, max_tokens_param);
  }
  const CommonParams params = prepared->params;
  ChatEventStream::Options options{true, params.logprobs, params.stop_strings, prefill};
  events_.emplace(env.tokenizer, std::move(options));
  return Admit(env, ChatCall::Sequence(std::move(*prepared), env.limits), params);
}

void HarmonyCall::Begin(Part part, const std::string& recipient) {
  EndPart();
  part_ = part;
  recipient_ = recipient;
  part_has_text_ = false;
  if (part == Part::kToolCall) {
    const ToolCallPart call{RandomId("call_"), FunctionName(recipient)};
    OnPartBegin(part, &call);
  } else {
    OnPartBegin(part, nullptr);
  }
}

void HarmonyCall::EndPart() {
  if (part_ == Part::kNone) return;
  // A call whose arguments are empty still gets valid JSON: clients json.loads() them.
  if (part_ == Part::kToolCall && !part_has_text_) {
    part_has_text_ = true;
    OnPartDelta(Part::kToolCall, "{}", v1::ChatDelta());
  }
  OnPartEnd(part_);
  part_ = Part::kNone;
  recipient_.clear();
}

bool HarmonyCall::Consume(const SequenceUpdate& update) {
  ChatEventStream::Step step = events_->OnToken(update);
  for (const v1::ChatResponse& event : step.events) {
    if (event.has_delta()) {
      const v1::ChatDelta& d = event.delta();
      const Part part = !d.recipient().empty()               ? Part::kToolCall
                        : d.channel() == v1::CHANNEL_ANALYSIS ? Part::kReasoning
                                                              : Part::kText;
      if (part == Part::kReasoning) {
        reasoning_tokens_ += d.token_ids_size();
        if (!include_reasoning_) continue;
      }
      if (part != part_ || (part == Part::kToolCall && d.recipient() != recipient_))
        Begin(part, d.recipient());
      part_has_text_ = true;
      OnPartDelta(part, d.text(), d);
    } else if (event.has_tool_call()) {
      const v1::ToolCall& call = event.tool_call();
      if (part_ != Part::kToolCall || FunctionName(recipient_) != call.name())
        Begin(Part::kToolCall, call.name().find('.') == std::string::npos
                                   ? "functions." + call.name()
                                   : call.name());
      if (!part_has_text_ && !call.arguments_json().empty()) {
        part_has_text_ = true;
        OnPartDelta(Part::kToolCall, call.arguments_json(), v1::ChatDelta());
      }
      EndPart();
    }
  }
  if (step.stop_string) {
    EndPart();
    OnFinish("stop");
    return true;
  }
  if (update.finish != FinishReason::kNone) {
    EndPart();
    std::string stop_reason;
    const v1::FinishReason reason = events_->FinishReasonOf(update, &stop_reason);
    OnFinish(reason == v1::FINISH_REASON_TOOL_CALLS ? "tool_calls"
             : reason == v1::FINISH_REASON_STOP     ? "stop"
                                                    : "length");
    return true;
  }
  return false;
}

Json HarmonyCall::ContentLogprobs(const v1::ChatDelta& delta) const {
  Json out = Json::array();
  if (delta.logprobs_size() != delta.token_ids_size()) return out;
  // The content starts after the last <|message|> of the tokens this delta carries.
  int first = 0;
  for (int i = 0; i < delta.token_ids_size(); ++i)
    if (delta.token_ids(i) == harmony::kMessageToken) first = i + 1;
  auto entry = [&](int id, float logprob) {
    absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(id);
    const std::string raw = bytes.ok() ? std::string(*bytes) : std::string();
    Json b = Json::array();
    for (unsigned char c : raw) b.push_back(static_cast<int>(c));
    return Json{{"token", utf8::ToValid(raw)}, {"logprob", logprob}, {"bytes", b}};
  };
  for (int i = first; i < delta.token_ids_size(); ++i) {
    const int id = delta.token_ids(i);
    if (tokenizer_->IsSpecial(id)) continue;
    const v1::TokenLogprob& lp = delta.logprobs(i);
    Json e = entry(id, lp.logprob());
    Json tops = Json::array();
    for (const v1::TopLogprob& t : lp.top_logprobs()) {
      if (tokenizer_->IsSpecial(t.token_id())) continue;
      tops.push_back(entry(t.token_id(), t.logprob()));
    }
    e["top_logprobs"] = std::move(tops);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace gptoss::openai
