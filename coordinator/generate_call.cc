#include "coordinator/generate_call.h"

#include "absl/strings/str_cat.h"
#include "worker/common/status_mapping.h"
#include "kernels/core/status.h"

namespace gptoss {

GenerateCall::GenerateCall(const CallEnv& env)
    : ServingCall(env), detokenizer_(env.tokenizer) {}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerateCall::Start(
    const CallEnv& env, const v1::GenerateRequest& request) {
  std::shared_ptr<GenerateCall> call(new GenerateCall(env));
  call->Retain();
  absl::Status st = env.refusal.ok() ? call->Submit(request) : env.refusal;
  if (!st.ok()) call->End(ToGrpcStatus(st));
  return call.get();
}

absl::StatusOr<PreparedRequest> GenerateCall::Prepare(const CallEnv& env,
                                                     const v1::GenerateRequest& request) {
  const ServingLimits& limits = env.limits;
  PreparedRequest prepared;
  GPTOSS_ASSIGN_OR_RETURN(prepared.params,
                   ValidateCommon(request.sampling(), request.stop(), request.logprobs(),
                                  request.priority(), request.request_id(), limits, RandomSeed()));
  std::vector<int32_t>& prompt = prepared.prompt;
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText: {
      std::vector<int> ids = env.tokenizer->Encode(request.text());
      prompt.assign(ids.begin(), ids.end());
      break;
    }
    case v1::GenerateRequest::kTokenIds:
      GPTOSS_RETURN_IF_ERROR(
          ValidateTokenIds(request.token_ids().ids(), "prompt.token_ids", limits.vocab_size));
      prompt.assign(request.token_ids().ids().begin(), request.token_ids().ids().end());
      break;
    default:
      return absl::InvalidArgumentError("prompt: empty (set text or token_ids)");
  }
  GPTOSS_RETURN_IF_ERROR(ValidatePromptLength(prompt.size(), prepared.params.max_tokens, limits));
  return prepared;
}

absl::Status GenerateCall::Submit(const v1::GenerateRequest& request) {
  GPTOSS_ASSIGN_OR_RETURN(PreparedRequest prepared, Prepare(env_, request));
  want_logprobs_ = prepared.params.logprobs;
  if (!prepared.params.stop_strings.empty()) stops_.emplace(prepared.params.stop_strings);
  return Admit(MakeSequenceRequest(std::move(prepared.prompt), prepared.params, env_.limits),
               prepared.params);
}

bool GenerateCall::MergeInto(v1::GenerateResponse& into, const v1::GenerateResponse& next) {
  if (!into.has_chunk() || !next.has_chunk()) return false;
  v1::GenerateChunk* a = into.mutable_chunk();
  const v1::GenerateChunk& b = next.chunk();
  a->mutable_token_ids()->MergeFrom(b.token_ids());
  a->mutable_text()->append(b.text());
  a->mutable_logprobs()->MergeFrom(b.logprobs());
  return true;
}

bool GenerateCall::OnToken(const SequenceUpdate& update) {
  tracker_.OnToken();
  const bool stop_token = update.finish == FinishReason::kStop;
  std::string piece;
  if (!stop_token) {
    // An id the tokenizer cannot decode cannot come from a valid step (ids are range-checked),
    // so an error here only loses that token's text.
    if (absl::StatusOr<std::string> text = detokenizer_.Push(update.token_id); text.ok())
      piece = std::move(*text);
  }
  if (update.finish != FinishReason::kNone) piece += detokenizer_.Flush();

  std::optional<std::string> matched;
  std::string text;
  if (stops_) {
    StopStringMatcher::Output out = stops_->Push(piece);
    text = std::move(out.text);
    matched = std::move(out.match);
    if (!matched && update.finish != FinishReason::kNone) text += stops_->Flush();
  } else {
    text = std::move(piece);
  }

  v1::GenerateResponse response;
  v1::GenerateChunk* chunk = response.mutable_chunk();
  chunk->add_token_ids(update.token_id);
  chunk->set_text(std::move(text));
  if (want_logprobs_) FillTokenLogprob(update, *env_.tokenizer, chunk->add_logprobs());
  Send(std::move(response));

  if (matched) {
    SendFinal(v1::FINISH_REASON_STOP, *matched, "");
    End(grpc::Status::OK);
    return true;
  }
  if (update.finish == FinishReason::kStop) {
    absl::StatusOr<std::string_view> literal = env_.tokenizer->TokenBytes(update.token_id);
    SendFinal(v1::FINISH_REASON_STOP, literal.ok() ? std::string(*literal) : "", "");
    End(grpc::Status::OK);
  } else if (update.finish == FinishReason::kLength) {
    SendFinal(v1::FINISH_REASON_LENGTH, "", "");
    End(grpc::Status::OK);
  }
  return false;
}

}  // namespace gptoss
