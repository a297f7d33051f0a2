#include "coordinator/openai/http_call.h"

#include <algorithm>

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
  stream_interval_ = std::max(1, env.limits.stream_interval);
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
  ++tokens_;
  ++unflushed_tokens_;
  in_token_ = true;
  const bool done = Consume(update);
  in_token_ = false;
  // The stream interval: the first token at once, later ones every stream_interval_ tokens
  // (the events in between wait in pending_); the end of the stream flushes everything.
  if (tokens_ <= 1 || unflushed_tokens_ >= stream_interval_) Flush();
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
  absl::StrAppend(&pending_, type.empty() ? "" : absl::StrCat("event: ", type, "\n"), "data: ",
                  Dump(data), "\n\n");
  if (!in_token_) Flush();  // events outside a token (admission, errors) go at once
}

void HttpCall::Flush() {
  if (pending_.empty()) return;
  if (!started_) {
    started_ = true;
    responder_->StartStream(200, "text/event-stream; charset=utf-8");
  }
  responder_->Write(std::move(pending_));
  pending_.clear();
  unflushed_tokens_ = 0;
}

// The success paths count the call before its last bytes leave: a client that has the whole
// answer finds it in the metrics. (Failures are counted by OnEnded before they are sent, so
// Count() is a no-op here for them.)
void HttpCall::SendDone() {
  Count(absl::OkStatus());
  pending_ += "data: [DONE]\n\n";
  Flush();
  responder_->Finish();
}

void HttpCall::EndStream() {
  Count(absl::OkStatus());
  Flush();
  responder_->Finish();
}

void HttpCall::Respond(const Json& body) {
  Count(absl::OkStatus());
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
