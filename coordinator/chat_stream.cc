#include "coordinator/chat_stream.h"

#include "absl/strings/str_cat.h"
#include "coordinator/call_common.h"
#include "coordinator/chat_prompt.h"
#include "coordinator/tokenizer/harmony_tokens.h"

namespace gptoss {

ChatEventStream::ChatEventStream(const Tokenizer* tokenizer, Options options)
    : tokenizer_(tokenizer),
      options_(std::move(options)),
      parser_(tokenizer, harmony::Role::kAssistant) {
  if (!options_.stop_strings.empty()) stops_.emplace(options_.stop_strings);
  for (int id : options_.prefill) parser_.Process(id);
}

void ChatEventStream::AddDelta(std::string text, Step& step) {
  if (text.empty()) return;
  const v1::Channel channel = ChannelFromName(channel_);
  if (channel == v1::CHANNEL_ANALYSIS && !options_.include_analysis) {
    pending_ids_.clear();
    pending_logprobs_.clear();
    return;
  }
  v1::ChatResponse response;
  v1::ChatDelta* delta = response.mutable_delta();
  delta->set_channel(channel);
  delta->set_text(std::move(text));
  delta->set_recipient(recipient_);
  delta->mutable_token_ids()->Add(pending_ids_.begin(), pending_ids_.end());
  for (v1::TokenLogprob& lp : pending_logprobs_) *delta->add_logprobs() = std::move(lp);
  pending_ids_.clear();
  pending_logprobs_.clear();
  step.events.push_back(std::move(response));
}

ChatEventStream::Step ChatEventStream::OnToken(const SequenceUpdate& update) {
  Step out;
  pending_ids_.push_back(update.token_id);
  if (options_.logprobs) {
    pending_logprobs_.emplace_back();
    FillTokenLogprob(update, *tokenizer_, &pending_logprobs_.back());
  }
  harmony::ParserStep step;
  const bool ends_message =
      update.token_id == harmony::kReturnToken || update.token_id == harmony::kCallToken;
  if (update.finish != FinishReason::kStop || ends_message) step = parser_.Process(update.token_id);
  if (update.finish != FinishReason::kNone && !step.message_done) {
    harmony::ParserStep eos = parser_.ProcessEos();
    if (eos.content_delta && !eos.content_delta->empty())
      step.content_delta = step.content_delta.value_or("") + *eos.content_delta;
    step.message_done = step.message_done || eos.message_done;
  }
  if (step.header_done) {
    channel_ = parser_.current_channel().value_or("");
    recipient_ = parser_.current_recipient().value_or("");
    // harmony reads a lone header word as the recipient, so a malformed header such as
    // "commentary <|constrain|>json" would name "<|constrain|>json": no tool has such a name,
    // and nothing raw may reach a client.
    if (recipient_.find("<|") != std::string::npos) recipient_.clear();
  }

  if (step.content_delta && !step.content_delta->empty()) {
    if (stops_) {
      StopStringMatcher::Output matched = stops_->Push(*step.content_delta);
      AddDelta(std::move(matched.text), out);
      if (matched.match) {
        out.stop_string = std::move(matched.match);
        return out;
      }
    } else {
      AddDelta(*step.content_delta, out);
    }
  }
  if (step.message_done) {
    // A stop string never spans two messages: what was held back belongs to this one.
    if (stops_) {
      AddDelta(stops_->Flush(), out);
      stops_.emplace(options_.stop_strings);
    }
    if (!parser_.messages().empty()) {
      std::optional<harmony::ToolCall> call = harmony::AsToolCall(parser_.messages().back());
      if (call && call->recipient.find("<|") == std::string::npos) {
        v1::ChatResponse response;
        v1::ToolCall* tool = response.mutable_tool_call();
        tool->set_id(absl::StrCat("call_", num_tool_calls_++));
        tool->set_name(call->namespace_name == "functions" ? call->name : call->recipient);
        tool->set_arguments_json(call->arguments);
        out.events.push_back(std::move(response));
      }
    }
  }
  return out;
}

v1::FinishReason ChatEventStream::FinishReasonOf(const SequenceUpdate& update,
                                                 std::string* stop_reason) const {
  stop_reason->clear();
  if (update.finish == FinishReason::kStop) {
    // TOOL_CALLS promises the client a call to run. A <|call|> that ends a message without a
    // valid recipient (a model can end an analysis with it) made no call event: that is a STOP.
    if (update.token_id == harmony::kCallToken && num_tool_calls_ > 0)
      return v1::FINISH_REASON_TOOL_CALLS;
    if (absl::StatusOr<std::string_view> literal = tokenizer_->TokenBytes(update.token_id);
        literal.ok())
      *stop_reason = std::string(*literal);
    return v1::FINISH_REASON_STOP;
  }
  return v1::FINISH_REASON_LENGTH;
}

}  // namespace gptoss
