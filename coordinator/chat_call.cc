#include "coordinator/chat_call.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/chat_prompt.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "kernels/core/status.h"

namespace gptoss {

grpc::ServerWriteReactor<grpc::ByteBuffer>* ChatCall::Start(const CallEnv& env,
                                                            const v1::ChatRequest& request) {
  std::shared_ptr<ChatCall> call(new ChatCall(env));
  return call->Launch([&] { return call->Submit(request); });
}

absl::StatusOr<PreparedRequest> ChatCall::Prepare(const CallEnv& env,
                                                 const v1::ChatRequest& request) {
  const ServingLimits& limits = env.limits;
  PreparedRequest prepared;
  GPTOSS_ASSIGN_OR_RETURN(prepared.params,
                   ValidateCommon(request.sampling(), request.stop(), request.logprobs(),
                                  request.priority(), request.request_id(), limits, RandomSeed()));
  if (prepared.params.ignore_eos)
    return absl::InvalidArgumentError(
        "stop.ignore_eos: not supported by Chat (it always stops at <|return|> and <|call|>)");
  GPTOSS_ASSIGN_OR_RETURN(harmony::Conversation conversation,
                   ConversationFromChatRequest(request, TodayUtc()));
  absl::StatusOr<std::vector<int>> rendered = env.renderer->RenderForCompletion(conversation);
  if (!rendered.ok())
    return absl::InvalidArgumentError(absl::StrCat("messages: ", rendered.status().message()));
  prepared.prompt.assign(rendered->begin(), rendered->end());
  GPTOSS_RETURN_IF_ERROR(
      ValidatePromptLength(prepared.prompt.size(), prepared.params.max_tokens, limits));
  return prepared;
}

absl::Status ChatCall::Submit(const v1::ChatRequest& request) {
  const ServingLimits& limits = env_.limits;
  GPTOSS_ASSIGN_OR_RETURN(PreparedRequest prepared, Prepare(env_, request));
  const CommonParams params = prepared.params;
  ChatEventStream::Options options;
  options.include_analysis = request.include_analysis();
  options.logprobs = params.logprobs;
  options.stop_strings = params.stop_strings;
  events_.emplace(env_.tokenizer, std::move(options));
  return Admit(Sequence(std::move(prepared), limits), params);
}

SequenceRequest ChatCall::Sequence(PreparedRequest prepared, const ServingLimits& limits) {
  SequenceRequest seq = MakeSequenceRequest(std::move(prepared.prompt), prepared.params, limits);
  for (int id : harmony::kGenerationStopTokens) {  // Chat always stops at these
    if (id < limits.vocab_size && std::find(seq.stop_token_ids.begin(), seq.stop_token_ids.end(),
                                            id) == seq.stop_token_ids.end())
      seq.stop_token_ids.push_back(id);
  }
  return seq;
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

bool ChatCall::OnToken(const SequenceUpdate& update) {
  tracker_.OnToken();
  NoteToken();
  ChatEventStream::Step step = events_->OnToken(update);
  for (v1::ChatResponse& event : step.events) Send(std::move(event));
  return EndIfFinished(*events_, step.stop_string, update);
}

}  // namespace gptoss
