#include "coordinator/generate_call.h"

#include "kernels/core/status.h"

namespace gptoss {

GenerateCall::GenerateCall(const CallEnv& env) : ServingCall(env) {}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerateCall::Start(
    const CallEnv& env, const v1::GenerateRequest& request) {
  std::shared_ptr<GenerateCall> call(new GenerateCall(env));
  return call->Launch([&] { return call->Submit(request); });
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
  stream_.emplace(env_.tokenizer, prepared.params.logprobs, prepared.params.stop_strings);
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
  NoteToken();
  GenerateEventStream::Step step = stream_->OnToken(update);
  v1::GenerateResponse response;
  *response.mutable_chunk() = std::move(step.chunk);
  Send(std::move(response));
  return EndIfFinished(*stream_, step.stop_string, update);
}

}  // namespace gptoss
