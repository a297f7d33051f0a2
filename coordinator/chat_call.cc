#include "coordinator/chat_call.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/chat_prompt.h"
#include "coordinator/status_mapping.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "kernels/core/status.h"

namespace gptoss {

ChatCall::ChatCall(const CallEnv& env)
    : env_(env), parser_(env.tokenizer, harmony::Role::kAssistant) {}

grpc::ServerWriteReactor<v1::ChatResponse>* ChatCall::Start(const CallEnv& env,
                                                            const v1::ChatRequest& request) {
  std::shared_ptr<ChatCall> call(new ChatCall(env));
  call->Retain();
  if (absl::Status st = call->Submit(request); !st.ok()) call->End(ToGrpcStatus(st));
  return call.get();
}

absl::Status ChatCall::Submit(const v1::ChatRequest& request) {
  const ServingLimits& limits = env_.limits;
  ASSIGN_OR_RETURN(CommonParams params,
                   ValidateCommon(request.sampling(), request.stop(), request.logprobs(),
                                  request.priority(), request.request_id(), limits, RandomSeed()));
  if (params.ignore_eos)
    return absl::InvalidArgumentError(
        "stop.ignore_eos: not supported by Chat (it always stops at <|return|> and <|call|>)");
  ASSIGN_OR_RETURN(harmony::Conversation conversation,
                   ConversationFromChatRequest(request, TodayUtc()));
  absl::StatusOr<std::vector<int>> rendered = env_.renderer->RenderForCompletion(conversation);
  if (!rendered.ok())
    return absl::InvalidArgumentError(absl::StrCat("messages: ", rendered.status().message()));
  std::vector<int32_t> prompt(rendered->begin(), rendered->end());
  RETURN_IF_ERROR(ValidatePromptLength(prompt.size(), params.max_tokens, limits));
  if (!env_.engine) return absl::UnavailableError("no workers are ready");

  prompt_tokens_ = static_cast<int>(prompt.size());
  seed_ = params.sampling.seed;
  request_id_ = params.request_id;
  want_logprobs_ = params.logprobs;
  include_analysis_ = request.include_analysis();
  stop_strings_ = params.stop_strings;
  if (!stop_strings_.empty()) stops_.emplace(stop_strings_);

  SequenceRequest seq = MakeSequenceRequest(std::move(prompt), params, limits);
  for (int id : harmony::kGenerationStopTokens) {  // Chat always stops at these
    if (id < limits.vocab_size &&
        std::find(seq.stop_token_ids.begin(), seq.stop_token_ids.end(), id) ==
            seq.stop_token_ids.end())
      seq.stop_token_ids.push_back(id);
  }
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SequenceId id,
                   env_.engine->Submit(std::move(seq),
                                       std::static_pointer_cast<ChatCall>(shared_from_this())));
  id_ = id;
  if (cancel_requested_) env_.engine->Cancel(id);
  return absl::OkStatus();
}

void ChatCall::OnCancelled() {
  std::optional<SequenceId> id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_requested_ = true;
    id = id_;
  }
  if (id) env_.engine->Cancel(*id);
}

bool ChatCall::MergeInto(v1::ChatResponse& into, const v1::ChatResponse& next) {
  if (!into.has_delta() || !next.has_delta()) return false;
  v1::ChatDelta* a = into.mutable_delta();
  const v1::ChatDelta& b = next.delta();
  if (a->channel() != b.channel() || a->recipient() != b.recipient()) return false;
  a->mutable_text()->append(b.text());
  a->mutable_token_ids()->MergeFrom(b.token_ids());
  a->mutable_logprobs()->MergeFrom(b.logprobs());
  return true;
}

void ChatCall::SendDelta(std::string text) {
  if (text.empty()) return;
  const v1::Channel channel = ChannelFromName(channel_);
  if (channel == v1::CHANNEL_ANALYSIS && !include_analysis_) {
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
  Send(std::move(response));
}

void ChatCall::SendFinal(v1::FinishReason reason, const std::string& stop_reason,
                         const std::string& error_message) {
  v1::ChatResponse response;
  v1::FinalInfo* final = response.mutable_final();
  tracker_.FillFinal(reason, prompt_tokens_, seed_, request_id_, final);
  final->set_stop_reason(stop_reason);
  final->set_error_message(error_message);
  Send(std::move(response));
}

bool ChatCall::OnToken(const SequenceUpdate& update) {
  tracker_.OnToken();
  pending_ids_.push_back(update.token_id);
  if (want_logprobs_) {
    pending_logprobs_.emplace_back();
    FillTokenLogprob(update, *env_.tokenizer, &pending_logprobs_.back());
  }
  harmony::ParserStep step = parser_.Process(update.token_id);
  if (update.finish != FinishReason::kNone && !step.message_done) {
    // max_tokens or the context ended the turn: close the open message like harmony at EOS.
    harmony::ParserStep eos = parser_.ProcessEos();
    if (eos.content_delta && !eos.content_delta->empty())
      step.content_delta = step.content_delta.value_or("") + *eos.content_delta;
    step.message_done = step.message_done || eos.message_done;
  }
  if (step.header_done) {
    channel_ = parser_.current_channel().value_or("");
    recipient_ = parser_.current_recipient().value_or("");
  }

  std::optional<std::string> matched;
  if (step.content_delta && !step.content_delta->empty()) {
    if (stops_) {
      StopStringMatcher::Output out = stops_->Push(*step.content_delta);
      SendDelta(std::move(out.text));
      matched = std::move(out.match);
    } else {
      SendDelta(*step.content_delta);
    }
  }
  if (matched) {
    SendFinal(v1::FINISH_REASON_STOP, *matched, "");
    End(grpc::Status::OK);
    return true;
  }
  if (step.message_done) {
    // A stop string never spans two messages: what was held back belongs to this one.
    if (stops_) {
      SendDelta(stops_->Flush());
      stops_.emplace(std::vector<std::string>(stop_strings_));
    }
    if (!parser_.messages().empty()) {
      if (std::optional<harmony::ToolCall> call = harmony::AsToolCall(parser_.messages().back())) {
        v1::ChatResponse response;
        v1::ToolCall* tool = response.mutable_tool_call();
        tool->set_id(absl::StrCat("call_", num_tool_calls_++));
        tool->set_name(call->namespace_name == "functions" ? call->name : call->recipient);
        tool->set_arguments_json(call->arguments);
        Send(std::move(response));
      }
    }
  }

  if (update.finish == FinishReason::kStop) {
    if (update.token_id == harmony::kCallToken) {
      SendFinal(v1::FINISH_REASON_TOOL_CALLS, "", "");
    } else {
      absl::StatusOr<std::string_view> literal = env_.tokenizer->TokenBytes(update.token_id);
      SendFinal(v1::FINISH_REASON_STOP, literal.ok() ? std::string(*literal) : "", "");
    }
    End(grpc::Status::OK);
  } else if (update.finish == FinishReason::kLength) {
    SendFinal(v1::FINISH_REASON_LENGTH, "", "");
    End(grpc::Status::OK);
  }
  return false;
}

void ChatCall::OnEnded(FinishReason reason, const absl::Status& error) {
  if (reason == FinishReason::kCancelled) {
    if (client_cancelled()) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
    } else {
      SendFinal(v1::FINISH_REASON_CANCELLED, "", "");
      End(grpc::Status::OK);
    }
    return;
  }
  SendFinal(v1::FINISH_REASON_ERROR, "", std::string(error.message()));
  End(FailureStatus(error));
}

}  // namespace gptoss
