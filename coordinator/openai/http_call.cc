#include "coordinator/openai/http_call.h"

#include "absl/strings/str_cat.h"
#include "coordinator/serving_metrics.h"
#include "worker/common/status_mapping.h"
#include "kernels/core/status.h"

namespace gptoss::openai {

absl::Status HttpCall::Admit(const CallEnv& env, SequenceRequest request,
                             const CommonParams& params) {
  (void)params;
  prompt_tokens_ = static_cast<int>(request.prompt.size());
  metrics_ = env.metrics;
  std::weak_ptr<HttpCall> weak = weak_from_this();
  GPTOSS_RETURN_IF_ERROR(admission_.Submit(env.engine, std::move(request), shared_from_this()));
  responder_->OnClientGone([weak] {
    if (std::shared_ptr<HttpCall> self = weak.lock()) self->admission_.Cancel();
  });
  std::lock_guard<std::mutex> lock(mu_);
  if (!ended_) OnAdmitted();
  return absl::OkStatus();
}

bool HttpCall::OnToken(const SequenceUpdate& update) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_) return true;
  tracker_.OnToken();
  const bool done = Consume(update);
  if (done) {
    ended_ = true;
    Count(absl::OkStatus());
  }
  return done && update.finish == FinishReason::kNone;
}

void HttpCall::OnEnded(FinishReason reason, const absl::Status& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ended_) return;
  ended_ = true;
  if (reason == FinishReason::kCancelled) {
    // The client went away (nothing reaches it any more) or the server is draining.
    Count(absl::CancelledError(""));
    Fail(absl::UnavailableError("the server is shutting down; the request was cancelled"));
    return;
  }
  Count(error.code() == absl::StatusCode::kUnavailable ? error : absl::InternalError(""));
  Fail(error.code() == absl::StatusCode::kUnavailable
           ? error
           : absl::InternalError(error.message().empty() ? "internal error" : error.message()));
}

void HttpCall::SendEvent(const Json& data, const std::string& type) {
  if (!started_) {
    started_ = true;
    responder_->StartStream(200, "text/event-stream; charset=utf-8");
  }
  responder_->Write(type.empty() ? absl::StrCat("data: ", Dump(data), "\n\n")
                                 : absl::StrCat("event: ", type, "\ndata: ", Dump(data), "\n\n"));
}

void HttpCall::SendDone() {
  if (!started_) {
    started_ = true;
    responder_->StartStream(200, "text/event-stream; charset=utf-8");
  }
  responder_->Write("data: [DONE]\n\n");
  responder_->Finish();
}

void HttpCall::EndStream() { responder_->Finish(); }

void HttpCall::Respond(const Json& body) {
  HttpServer::Request request;
  request.version(11);
  request.keep_alive(true);
  responder_->Respond(TextResponse(request, 200, Dump(body), "application/json"));
}

void HttpCall::Count(const absl::Status& status) {
  if (counted_ || metrics_ == nullptr) return;
  counted_ = true;
  metrics_->RpcEnded(rpc(), ToGrpcStatus(status));
}

void HttpCall::StreamError(const absl::Status& error) {
  SendEvent(ErrorJson(error), "");
  SendDone();
}

void HttpCall::Fail(const absl::Status& error) {
  if (started_) return StreamError(error);
  HttpServer::Request request;
  request.version(11);
  request.keep_alive(true);
  responder_->Respond(TextResponse(request, HttpStatusOf(error), Dump(ErrorJson(error)),
                                   "application/json"));
}

Json HttpCall::UsageJson(int reasoning_tokens) const {
  return Json{{"prompt_tokens", prompt_tokens_},
              {"completion_tokens", completion_tokens()},
              {"total_tokens", prompt_tokens_ + completion_tokens()},
              {"prompt_tokens_details", {{"cached_tokens", 0}}},
              {"completion_tokens_details", {{"reasoning_tokens", reasoning_tokens}}}};
}

}  // namespace gptoss::openai
