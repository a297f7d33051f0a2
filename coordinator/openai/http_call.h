// HttpCall: one OpenAI request in the engine — its RequestObserver, writing to the request's
// HttpResponder (worker/common/http_server.h). The endpoints (chat_completions_call.h,
// responses_call.h, completions_call.h) turn tokens into their JSON; this base does admission,
// the SSE framing, the client's disconnect and the endings that carry no token.
// Contract:
//  - Admit(): submits once; errors (UNAVAILABLE, RESOURCE_EXHAUSTED) are returned, nothing sent.
//    A client that goes away cancels the sequence (its KV cache is freed at the next step).
//  - A streamed answer is `text/event-stream`: "data: {json}\n\n" events (with "event: TYPE"
//    lines when the endpoint names its events), ended by the endpoint. An error after admission
//    ends a stream with one {"error": ...} event, or answers the error status when nothing was
//    streamed yet. A drain at shutdown is such an error (503).
//  - OnToken/OnEnded run on the engine thread, never blocking (writes queue in the responder);
//    OnAdmitted runs on the HTTP thread right after admission, under the same lock, so that a
//    stream's headers and first event go out at once instead of after the prefill.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "coordinator/call_common.h"
#include "coordinator/openai/openai_json.h"
#include "worker/common/http_server.h"

namespace gptoss::openai {

class HttpCall : public RequestObserver, public std::enable_shared_from_this<HttpCall> {
 public:
  absl::Status Admit(const CallEnv& env, SequenceRequest request, const CommonParams& params);
  bool OnToken(const SequenceUpdate& update) final;
  void OnEnded(FinishReason reason, const absl::Status& error) final;

 protected:
  HttpCall(std::shared_ptr<HttpResponder> responder, bool stream, std::string model)
      : responder_(std::move(responder)), stream_(stream), model_(std::move(model)) {}

  // One token; returns true when the answer is complete (the request ends here: a stop string
  // matched, or update.finish != kNone).
  virtual bool Consume(const SequenceUpdate& update) = 0;
  // The request was admitted (tokens may already have come).
  virtual void OnAdmitted() {}
  // An error after the stream started: by default one {"error": ...} event and "data: [DONE]".
  virtual void StreamError(const absl::Status& error);

  void SendEvent(const Json& data, const std::string& type = "");
  void SendDone();                    // "data: [DONE]" and the end of the stream
  void EndStream();                   // the end of the stream, nothing more
  void Respond(const Json& body);     // the whole answer (not streamed)
  void Fail(const absl::Status& error);

  Json UsageJson(int reasoning_tokens) const;  // chat/completions usage object
  int prompt_tokens() const { return prompt_tokens_; }
  int completion_tokens() const { return tracker_.completion_tokens(); }
  bool streaming() const { return stream_; }
  const std::string& model() const { return model_; }

 private:
  const std::shared_ptr<HttpResponder> responder_;
  const bool stream_;
  const std::string model_;
  // Where the call's end is counted (gptoss_requests_total{rpc}), and under which rpc label.
  virtual const char* rpc() const = 0;
  void Count(const absl::Status& status);
  ServingMetrics* metrics_ = nullptr;
  bool counted_ = false;
  Admission admission_;
  std::mutex mu_;  // the engine thread's events vs. OnAdmitted
  RequestTracker tracker_;
  int prompt_tokens_ = 0;
  bool started_ = false;  // the stream's headers went out
  bool ended_ = false;
  // The stream interval (ServingLimits::stream_interval): events wait in pending_ until it is
  // flushed (the first token at once, then every stream_interval_ tokens, and at the end).
  void Flush();
  std::string pending_;
  int stream_interval_ = 1;
  int64_t tokens_ = 0;
  int unflushed_tokens_ = 0;
  bool in_token_ = false;  // OnToken is consuming a token: its events wait for its end
};

}  // namespace gptoss::openai
