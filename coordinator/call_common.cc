#include "coordinator/call_common.h"

#include "worker/common/status_mapping.h"
#include "kernels/core/status.h"

namespace gptoss {

void RequestTracker::FillFinal(v1::FinishReason reason, int prompt_tokens, uint64_t seed,
                               const std::string& request_id, v1::FinalInfo* final) const {
  const auto now = std::chrono::steady_clock::now();
  final->set_finish_reason(reason);
  final->mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(prompt_tokens));
  final->mutable_usage()->set_completion_tokens(static_cast<uint32_t>(completion_tokens_));
  final->mutable_usage()->set_cached_tokens(0);  // no prefix cache yet
  final->set_seed(seed);
  final->set_request_id(request_id);
  if (first_token_)
    final->set_time_to_first_token_s(std::chrono::duration<double>(*first_token_ - start_).count());
  final->set_total_time_s(std::chrono::duration<double>(now - start_).count());
}

void FillTokenLogprob(const SequenceUpdate& update, const Tokenizer& tokenizer,
                      v1::TokenLogprob* out) {
  out->set_token_id(update.token_id);
  out->set_logprob(update.logprob);
  for (const auto& [id, logprob] : update.top_logprobs) {
    v1::TopLogprob* top = out->add_top_logprobs();
    top->set_token_id(id);
    top->set_logprob(logprob);
    if (absl::StatusOr<std::string_view> bytes = tokenizer.TokenBytes(id); bytes.ok())
      top->set_token_bytes(std::string(*bytes));
  }
}

absl::Status Admission::Submit(std::shared_ptr<EngineLoop> engine, SequenceRequest request,
                               std::shared_ptr<RequestObserver> observer) {
  if (!engine) return absl::UnavailableError("no workers are ready");
  std::lock_guard<std::mutex> lock(mu_);
  GPTOSS_ASSIGN_OR_RETURN(SequenceId id, engine->Submit(std::move(request), std::move(observer)));
  id_ = id;
  engine_ = std::move(engine);
  if (cancel_requested_) engine_->Cancel(id);
  return absl::OkStatus();
}

void Admission::Cancel() {
  std::optional<SequenceId> id;
  std::shared_ptr<EngineLoop> engine;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_requested_ = true;
    id = id_;
    engine = engine_;
  }
  // Not admitted (yet): Submit() sees cancel_requested_, or the call already ended.
  if (id) engine->Cancel(*id);
}

grpc::Status FailureStatus(const absl::Status& error) {
  const absl::Status status =
      error.code() == absl::StatusCode::kUnavailable
          ? error
          : absl::InternalError(error.message().empty() ? "internal error" : error.message());
  return ToGrpcStatus(status);
}

}  // namespace gptoss
